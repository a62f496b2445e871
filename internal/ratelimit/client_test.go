package ratelimit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// frozenRedis accepts connections and reads what is sent but never
// answers: a Redis stopped with SIGSTOP, as the client sees it.
func frozenRedis(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// TestRedisFrozenStoreIsBounded: calls against a Redis that accepts and
// never answers end in their backend-down mode, not in the caller's
// deadline. (How long they wait is measured in docs/benchmarks.md, not
// asserted here; the caller's deadline is 20× the limiter's bound.)
func TestRedisFrozenStoreIsBounded(t *testing.T) {
	c := redis.NewClient(ClientOptions(frozenRedis(t), "", 0, 100*time.Millisecond))
	t.Cleanup(func() { _ = c.Close() })
	l := NewRedis(c, RedisOptions{Timeout: 100 * time.Millisecond})
	closed := &Limit{Key: "closed", TPM: 1000}
	share := &Limit{Key: "share", TPM: 1000, OnBackendDown: LocalShare, LocalShare: 1}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			lim, want := closed, DeniedUnavailable
			if i%2 == 1 {
				lim, want = share, ""
			}
			_, err := l.Reserve(ctx, time.Now(), reqs(10, lim))
			var d *Denial
			switch {
			case want == "" && err != nil:
				errs <- err
			case want != "" && (!errors.As(err, &d) || d.Kind != want):
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("call against a frozen store: %v", err)
	}
	if st := l.Stats(); !st.StoreDown {
		t.Errorf("stats = %+v, want the store down", st)
	}
}

func TestClientOptions(t *testing.T) {
	o := ClientOptions("h:1", "pw", 2, 0)
	if o.MaxRetries != -1 || o.DialerRetries != 1 || !o.ContextTimeoutEnabled ||
		o.PoolTimeout != DefaultTimeout || o.ReadTimeout != DefaultTimeout || o.WriteTimeout != DefaultTimeout || o.DialTimeout != DefaultTimeout {
		t.Errorf("options = %+v; want no retries and every wait at %v", o, DefaultTimeout)
	}
}

// TestRedisLogger: go-redis's lines arrive as structured records, at most
// one a second, with the count of those left out.
func TestRedisLogger(t *testing.T) {
	var buf bytes.Buffer
	l := NewRedisLogger(slog.New(slog.NewJSONHandler(&buf, nil)))
	ctx := context.Background()
	for range 16 {
		l.Printf(ctx, "redis: connection pool: failed to dial after %d attempts: %v", 1, "connection refused")
	}
	l.mu.Lock()
	l.last = l.last.Add(-2 * redisLogEvery) // a second later
	l.mu.Unlock()
	l.Printf(ctx, "again")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines = %d, want 2:\n%s", len(lines), buf.String())
	}
	var rec []struct {
		Level, Msg, Detail string
		Suppressed         int
	}
	for _, line := range lines {
		var r struct {
			Level, Msg, Detail string
			Suppressed         int
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		rec = append(rec, r)
	}
	if rec[0].Level != "WARN" || !strings.Contains(rec[0].Detail, "failed to dial after 1 attempts") || rec[0].Suppressed != 0 {
		t.Errorf("first record = %+v", rec[0])
	}
	if rec[1].Detail != "again" || rec[1].Suppressed != 15 {
		t.Errorf("second record = %+v, want 15 suppressed", rec[1])
	}
}
