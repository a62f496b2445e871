package proctest

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server of the test's own, without persistence, so a
// restart comes back empty, as a cache node that lost its memory would.
type Redis struct {
	tb   testing.TB
	Addr string // 127.0.0.1:PORT, the same across restarts

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	frozen bool
}

// StartRedis starts a redis-server on a free loopback port and stops it at
// cleanup. Outside CI a missing redis-server skips the test.
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		unavailable(tb, "redis-server not installed: %v", err)
	}
	r := &Redis{tb: tb, Addr: FreeAddr(tb)}
	r.Start()
	tb.Cleanup(r.Stop)
	return r
}

// Start starts the server on r.Addr, empty, and waits until it answers.
func (r *Redis) Start() {
	r.tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		r.tb.Fatal("redis already running")
	}
	_, port, _ := net.SplitHostPort(r.Addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		r.tb.Fatalf("start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.cmd, r.done, r.frozen = cmd, done, false
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := ping(r.Addr); err == nil {
			return
		} else if time.Now().After(deadline) {
			r.tb.Fatalf("redis-server on %s not answering: %v\n%s", r.Addr, err, out.String())
		}
		select {
		case <-done:
			r.tb.Fatalf("redis-server exited:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop kills the server; its data is gone. Stopping a stopped server does
// nothing.
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill() // SIGKILL ends a frozen process too
	<-r.done
	r.cmd, r.done, r.frozen = nil, nil, false
}

// Restart stops the server and starts an empty one on the same port.
func (r *Redis) Restart() {
	r.tb.Helper()
	r.Stop()
	r.Start()
}

// Freeze stops the server with SIGSTOP: connections stay open and nothing
// answers, as with a hung host.
func (r *Redis) Freeze() { r.signal(syscall.SIGSTOP, true) }

// Thaw resumes a frozen server with SIGCONT.
func (r *Redis) Thaw() { r.signal(syscall.SIGCONT, false) }

func (r *Redis) signal(sig syscall.Signal, frozen bool) {
	r.tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		r.tb.Fatal("redis not running")
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.tb.Fatalf("redis %v: %v", sig, err)
	}
	r.frozen = frozen
}

// ping sends a RESP PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(buf[:n]), "+PONG") {
		return fmt.Errorf("unexpected answer %q", buf[:n])
	}
	return nil
}
