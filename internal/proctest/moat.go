package proctest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// built caches the moat binary for the life of the test binary: building
// it takes seconds, and every fault test needs it.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Moat returns the path of a moat binary built from this module, once per
// test binary, with the race detector when the tests run with it, so races
// under real traffic fail the suite. MOAT_BIN points at a prebuilt binary
// instead.
func Moat(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv("MOAT_BIN"); bin != "" {
		return bin
	}
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "moat-proctest-")
		if err != nil {
			built.err = err
			return
		}
		built.dir = dir
		built.path = filepath.Join(dir, "moat")
		args := []string{"build", "-o", built.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/moat-gw/moat/cmd/moat")
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if built.err != nil {
		tb.Fatal(built.err)
	}
	return built.path
}

// FreeAddr returns a loopback address whose port is free now, for a
// process the test starts later. It is drawn below the kernel's ephemeral
// range (32768 and up on Linux), where neither the source ports of the
// tests' many outgoing connections nor other listeners on port 0 land, so
// the port stays free until the process binds it; only another FreeAddr
// could pick it meanwhile, one chance in thousands.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	const lo, hi = 20000, 32000
	for range 100 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(lo+rand.IntN(hi-lo)))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr
	}
	tb.Fatal("no free loopback port below the ephemeral range")
	return ""
}

// MoatConfig is what StartMoat runs.
type MoatConfig struct {
	// YAML is the config file's content.
	YAML string
	// Mgmt is the management listener's address (host:port) in YAML,
	// polled on /readyz until the process is ready.
	Mgmt string
	// Env is added to the process's environment.
	Env []string
	// Args are added after `serve --config FILE`.
	Args []string
	// Dir is the working directory; empty means a fresh temporary one.
	Dir string
	// ReadyTimeout bounds the wait for /readyz; zero means 60 s (a race
	// build starts slowly on a loaded machine).
	ReadyTimeout time.Duration
}

// Process is a running `moat serve`.
type Process struct {
	tb     testing.TB
	cmd    *exec.Cmd
	out    *syncBuffer
	done   chan struct{}
	err    error
	Config string // the config file's path
	Mgmt   string
}

// StartMoat writes cfg's YAML to a file, runs `moat serve --config FILE`
// and waits until its management listener answers /readyz with 200. The
// process is killed at cleanup if it is still running, and its output is
// shown when the test failed.
func StartMoat(tb testing.TB, cfg MoatConfig) *Process {
	tb.Helper()
	p := StartMoatNoWait(tb, cfg)
	timeout := cfg.ReadyTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	if err := p.WaitReady(timeout); err != nil {
		tb.Fatalf("moat did not become ready: %v\n%s", err, p.Logs())
	}
	return p
}

// StartMoatNoWait starts the process like StartMoat but returns at once.
func StartMoatNoWait(tb testing.TB, cfg MoatConfig) *Process {
	tb.Helper()
	bin := Moat(tb)
	dir := cfg.Dir
	if dir == "" {
		dir = tb.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("moat-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(path, []byte(cfg.YAML), 0o600); err != nil {
		tb.Fatal(err)
	}
	args := append([]string{"serve", "--config", path}, cfg.Args...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), cfg.Env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start moat: %v", err)
	}
	p := &Process{tb: tb, cmd: cmd, out: out, done: make(chan struct{}), Config: path, Mgmt: cfg.Mgmt}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		p.Kill()
		if tb.Failed() {
			tb.Logf("moat (pid %d, %s) output:\n%s", cmd.Process.Pid, path, p.Logs())
		}
	})
	return p
}

// WaitReady polls /readyz on the management listener until it answers 200,
// the process exits, or timeout passes.
func (p *Process) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-p.done:
			return fmt.Errorf("moat exited: %v", p.err)
		default:
		}
		resp, err := client.Get("http://" + p.Mgmt + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("/readyz answered %d", resp.StatusCode)
			}
			return fmt.Errorf("not ready after %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil && !p.Exited() {
		p.tb.Errorf("signal %v: %v", sig, err)
	}
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Wait waits for the process to exit and returns its error (nil for exit
// status 0).
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// WaitTimeout is Wait bounded by d; it reports whether the process exited.
func (p *Process) WaitTimeout(d time.Duration) (exited bool, err error) {
	select {
	case <-p.done:
		return true, p.err
	case <-time.After(d):
		return false, nil
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Logs returns everything the process wrote to stdout and stderr so far.
func (p *Process) Logs() string { return p.out.String() }

// Run runs a moat command (such as `keys create`) to completion and
// returns its combined output.
func Run(tb testing.TB, env []string, args ...string) (string, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Moat(tb), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// syncBuffer is a bytes.Buffer safe for the process's two writers and the
// test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
