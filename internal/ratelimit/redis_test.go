package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

func TestRedisKeysAndTTLs(t *testing.T) {
	ctx := context.Background()
	c := testRedisClient(t)
	prefix := testPrefix(t, c)
	l := NewRedis(c, RedisOptions{Prefix: prefix})
	lim := &Limit{Key: "key:ttl", TPM: 1000, RPM: 10, Quota: 5000, QuotaPeriod: PeriodDay}
	now := time.Now().UTC()
	r, err := l.Reserve(ctx, now, reqs(100, lim))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Settle(ctx, now, 40); err != nil {
		t.Fatal(err)
	}
	start, end := PeriodDay.Bounds(now)
	qKey := prefix + "q:key:ttl:day:" + strconv.FormatInt(start.Unix(), 10)
	tests := []struct {
		name     string
		key      string
		min, max time.Duration
		value    string
	}{
		{"token window", prefix + "t:key:ttl", time.Minute, 2 * time.Minute, ""},
		{"request window", prefix + "r:key:ttl", time.Minute, 2 * time.Minute, ""},
		{"quota counter", qKey, end.Sub(now), end.Sub(now) + quotaGrace + time.Second, "40"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ttl, err := c.PTTL(ctx, tt.key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if ttl < tt.min-2*time.Second || ttl > tt.max {
				t.Errorf("PTTL %s = %v, want in [%v, %v]", tt.key, ttl, tt.min, tt.max)
			}
			if tt.value != "" {
				if v, _ := c.Get(ctx, tt.key).Result(); v != tt.value {
					t.Errorf("GET %s = %q, want %q", tt.key, v, tt.value)
				}
			}
		})
	}
	ok, err := c.ScriptExists(ctx, reserveScript.Hash(), settleScript.Hash()).Result()
	if err != nil || !ok[0] || !ok[1] {
		t.Errorf("scripts cached = %v, %v; want both loaded for EVALSHA", ok, err)
	}
}

// TestRedisQuotaSurvivesRestart builds a second limiter (a restarted or
// other replica) over the same store and sees the first one's usage.
func TestRedisQuotaSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	c := testRedisClient(t)
	prefix := testPrefix(t, c)
	lim := &Limit{Key: "principal:p", Quota: 1000, QuotaPeriod: PeriodMonth}
	first := NewRedis(c, RedisOptions{Prefix: prefix})
	if _, err := first.Reserve(ctx, t0, reqs(900, lim)); err != nil {
		t.Fatal(err)
	}
	second := NewRedis(testRedisClient(t), RedisOptions{Prefix: prefix})
	_, err := second.Reserve(ctx, t0.Add(time.Hour), reqs(200, lim))
	var d *Denial
	if !errors.As(err, &d) || d.Kind != DeniedQuota || d.RemainingQuota != 100 {
		t.Fatalf("second replica: err = %v, want quota denial with 100 left", err)
	}
	// March 2025 ends on the 31st: 21 days and 11 hours after t0+1h.
	if want := 21*24*time.Hour + 11*time.Hour; d.RetryAfter != want {
		t.Errorf("RetryAfter = %v, want %v", d.RetryAfter, want)
	}
}

func TestRedisDown(t *testing.T) {
	ctx := context.Background()
	closed := &Limit{Key: "key:closed", TPM: 1000}
	share := &Limit{Key: "key:share", TPM: 1000, RPM: 100, OnBackendDown: LocalShare, LocalShare: 0.5}
	tests := []struct {
		name     string
		calls    []Request
		tokens   []int // one Reserve per entry, all at t0
		wantKind []DenialKind
		stats    Stats
	}{
		{"fail_closed denies with unavailable", []Request{{Limit: closed}}, []int{10, 10},
			[]DenialKind{DeniedUnavailable, DeniedUnavailable}, Stats{StoreErrors: 1, FailClosedDenials: 2, StoreDown: true}},
		{"local_share admits a share of the limit", []Request{{Limit: share}}, []int{300, 200, 1},
			[]DenialKind{"", "", DeniedTokens}, Stats{StoreErrors: 1, FallbackReserves: 3, StoreDown: true}},
		{"one fail_closed limit closes the call", []Request{{Limit: share}, {Limit: closed}}, []int{10},
			[]DenialKind{DeniedUnavailable}, Stats{StoreErrors: 1, FailClosedDenials: 1, StoreDown: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := redis.NewClient(&redis.Options{Addr: closedAddr(t), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
			t.Cleanup(func() { _ = c.Close() })
			var logs bytes.Buffer
			l := NewRedis(c, RedisOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil)), RetryInterval: 5 * time.Second})
			for i, n := range tt.tokens {
				rq := make([]Request, len(tt.calls))
				for j := range tt.calls {
					rq[j] = Request{Limit: tt.calls[j].Limit, Tokens: n}
				}
				r, err := l.Reserve(ctx, t0, rq)
				var d *Denial
				got := DenialKind("")
				if errors.As(err, &d) {
					got = d.Kind
				} else if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if got != tt.wantKind[i] {
					t.Fatalf("call %d: denial kind %q, want %q (err %v)", i, got, tt.wantKind[i], err)
				}
				if got == DeniedUnavailable {
					he := d.HTTPError("ChatCompletions_Create", "2024-10-21")
					if he.Status != 503 || he.Header.Get("Retry-After") != "5" || strings.Contains(string(httpx.Render(openai.Errors{}, he)), "127.0.0.1") {
						t.Errorf("unavailable answer: %d %v %s", he.Status, he.Header, httpx.Render(openai.Errors{}, he))
					}
				}
				if r != nil {
					if err := r.Settle(ctx, t0, n); err != nil {
						t.Errorf("settle on fallback: %v", err)
					}
				}
			}
			if diff := cmp.Diff(tt.stats, l.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if n := strings.Count(logs.String(), "unreachable"); n != 1 {
				t.Errorf("log lines about the outage = %d, want 1:\n%s", n, logs.String())
			}
		})
	}
}

// TestRedisRecovers points the client at a dialer that fails until the
// store "comes back", and checks the limiter retries after its interval.
func TestRedisRecovers(t *testing.T) {
	ctx := context.Background()
	real := testRedisClient(t)
	prefix := testPrefix(t, real)
	var up atomic.Bool
	addr := real.Options().Addr
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1,
		Dialer: func(ctx context.Context, network, a string) (net.Conn, error) {
			if !up.Load() {
				return nil, errors.New("dial: store down for the test")
			}
			var d net.Dialer
			return d.DialContext(ctx, network, a)
		}})
	t.Cleanup(func() { _ = c.Close() })
	var logs bytes.Buffer
	l := NewRedis(c, RedisOptions{Prefix: prefix, Logger: slog.New(slog.NewTextHandler(&logs, nil)), RetryInterval: 2 * time.Second})
	lim := &Limit{Key: "key:rec", TPM: 100, OnBackendDown: LocalShare, LocalShare: 1}

	steps := []struct {
		name      string
		at        time.Duration
		up        bool
		storeErrs uint64
		down      bool
	}{
		{"down: fallback", 0, false, 1, true},
		{"within the interval the store is skipped", time.Second, true, 1, true},
		{"after the interval the store is used again", 2 * time.Second, true, 1, false},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			up.Store(s.up)
			r, err := l.Reserve(ctx, t0.Add(s.at), reqs(10, lim))
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Settle(ctx, t0.Add(s.at), 10); err != nil {
				t.Fatal(err)
			}
			st := l.Stats()
			if st.StoreErrors != s.storeErrs || st.StoreDown != s.down {
				t.Errorf("stats = %+v, want errors %d down %v", st, s.storeErrs, s.down)
			}
		})
	}
	if !strings.Contains(logs.String(), "reachable again") {
		t.Errorf("no recovery log line:\n%s", logs.String())
	}
	if n, _ := real.Exists(ctx, prefix+"t:key:rec").Result(); n != 1 {
		t.Error("recovered call did not reach the store")
	}
}

func TestRedisCanceledContextIsNotAnOutage(t *testing.T) {
	c := testRedisClient(t)
	l := NewRedis(c, RedisOptions{Prefix: testPrefix(t, c)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Reserve(ctx, t0, reqs(1, &Limit{Key: "k", TPM: 10}))
	var d *Denial
	if !errors.Is(err, context.Canceled) || errors.As(err, &d) {
		t.Fatalf("err = %v, want context.Canceled and no denial", err)
	}
	if st := l.Stats(); st.StoreDown || st.StoreErrors != 0 {
		t.Errorf("stats = %+v, want no outage", st)
	}
}
