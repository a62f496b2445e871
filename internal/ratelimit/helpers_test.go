package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// t0 is the fake clock's start: a Monday, on a whole hour.
var t0 = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

// testRedisClient connects to the test Redis, skipping locally and failing
// in CI when it is unreachable.
func testRedisClient(tb testing.TB) *redis.Client {
	tb.Helper()
	addr := os.Getenv("MOAT_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, PoolSize: 16})
	if err := c.Ping(context.Background()).Err(); err != nil {
		_ = c.Close()
		if os.Getenv("CI") != "" {
			tb.Fatalf("redis at %s: %v", addr, err)
		}
		tb.Skipf("redis at %s unreachable: %v", addr, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// testPrefix returns a key prefix owned by this test and deletes its keys
// when the test ends.
func testPrefix(tb testing.TB, c *redis.Client) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name())
	p := "moattest:rl:" + name + ":" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		it := c.Scan(ctx, 0, p+"*", 1000).Iterator()
		for it.Next(ctx) {
			c.Del(ctx, it.Val())
		}
	})
	return p
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// limiterKinds builds one fresh limiter per implementation.
func limiterKinds(t *testing.T) map[string]func(*testing.T) Limiter {
	return map[string]func(*testing.T) Limiter{
		"local": func(*testing.T) Limiter { return NewLocal() },
		"redis": func(t *testing.T) Limiter {
			c := testRedisClient(t)
			return NewRedis(c, RedisOptions{Prefix: testPrefix(t, c)})
		},
	}
}

// reqs builds one request per limit, each with the same estimate.
func reqs(tokens int, lims ...*Limit) []Request {
	out := make([]Request, len(lims))
	for i, l := range lims {
		out[i] = Request{Limit: l, Tokens: tokens}
	}
	return out
}
