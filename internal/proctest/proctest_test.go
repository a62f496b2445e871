package proctest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/moat-gw/moat/internal/proctest"
)

func TestRedisLifecycle(t *testing.T) {
	r := proctest.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, ReadTimeout: 300 * time.Millisecond})
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r.Freeze()
	if err := c.Get(ctx, "k").Err(); err == nil {
		t.Fatal("a frozen redis answered")
	}
	r.Thaw()
	c.Close()
	c = redis.NewClient(&redis.Options{Addr: r.Addr})
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after thaw: %q, %v", v, err)
	}
	r.Restart()
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("after restart the key should be gone, got %v", err)
	}
}

func TestForwarderModes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 16)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					c.Write(buf[:n])
				}
			}()
		}
	}()
	f := proctest.Forward(t, ln.Addr().String())
	echo := func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Write([]byte("hi")); err != nil {
			return err
		}
		buf := make([]byte, 2)
		_, err := c.Read(buf)
		return err
	}
	c, err := net.Dial("tcp", f.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := echo(c); err != nil {
		t.Fatalf("pass: %v", err)
	}
	f.Hang()
	if err := echo(c); err == nil {
		t.Fatal("hung forwarder passed bytes")
	}
	f.Resume()
	c.Close()
	c, err = net.Dial("tcp", f.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := echo(c); err != nil {
		t.Fatalf("resumed: %v", err)
	}
	f.Refuse()
	if err := echo(c); err == nil {
		t.Fatal("refused forwarder kept a connection")
	}
	if _, err := net.Dial("tcp", f.Addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial while refusing: %v, want connection refused", err)
	}
	f.Resume()
	c, err = net.Dial("tcp", f.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := echo(c); err != nil {
		t.Fatalf("after refuse: %v", err)
	}
}

func TestPostgresViaForwarder(t *testing.T) {
	dsn := proctest.PostgresDSN(t)
	u := mustHost(t, dsn)
	f := proctest.Forward(t, u)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, proctest.PostgresDSNVia(t, dsn, f.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var path string
	if err := conn.QueryRow(ctx, "SHOW search_path").Scan(&path); err != nil {
		t.Fatal(err)
	}
	if path == "" {
		t.Fatal("no search_path")
	}
}

func mustHost(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

func TestStartMoat(t *testing.T) {
	data, mgmt := proctest.FreeAddr(t), proctest.FreeAddr(t)
	cfg := fmt.Sprintf(`data_dir: %q
listeners: [{name: data, address: %q, kind: private_endpoint}]
management: {listeners: [{name: mgmt, address: %q, kind: private_endpoint}]}
auth: {disabled: true}
upstreams: [{name: sim, type: simulator}]
deployments: [{name: gpt-4o-mini, upstreams: [{upstream: sim}]}]
`, t.TempDir(), data, mgmt)
	p := proctest.StartMoat(t, proctest.MoatConfig{YAML: cfg, Mgmt: mgmt})
	req, _ := http.NewRequest(http.MethodPost, "http://"+data+"/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
		strings.NewReader(`{"messages":[{"role":"user","content":"hi"}],"max_tokens":5}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("api-key", "any")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d\n%s", resp.StatusCode, p.Logs())
	}
	p.Signal(syscall.SIGTERM)
	if exited, err := p.WaitTimeout(30 * time.Second); !exited || err != nil {
		t.Fatalf("SIGTERM: exited %v, err %v\n%s", exited, err, p.Logs())
	}
}
