package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// rem is a reservation's or denial's remaining counts.
type rem struct {
	Tokens, Requests int
	Quota            int64
}

// op is one step of a scenario on a fake clock.
type op struct {
	at     time.Duration
	do     string // reserve, settle, adjust, cancel
	limits []string
	tokens int // reserve: estimate; settle, adjust: actual
	ref    int // settle, adjust, cancel: index of the reserving op
	deny   *Denial
	rem    *rem // checked when admitted
}

func TestLimiterScenarios(t *testing.T) {
	limits := map[string]*Limit{
		"L": {Key: "key:a", TPM: 1000},
		"B": {Key: "deployment:b", TPM: 500},
		"R": {Key: "key:r", RPM: 2},
		"Q": {Key: "key:q", Quota: 1000, QuotaPeriod: PeriodHour},
		"C": {Key: "key:c", TPM: 100, RPM: 1},
	}
	deny := func(key string, kind DenialKind, after time.Duration, r rem) *Denial {
		return &Denial{Key: key, Kind: kind, RetryAfter: after, RemainingTokens: r.Tokens, RemainingRequests: r.Requests, RemainingQuota: r.Quota}
	}
	s := time.Second
	tests := []struct {
		name string
		ops  []op
	}{
		{"tpm admits to the limit then waits for the oldest bucket", []op{
			{at: 0, do: "reserve", limits: []string{"L"}, tokens: 600, rem: &rem{400, -1, -1}},
			{at: 10 * s, do: "reserve", limits: []string{"L"}, tokens: 400, rem: &rem{0, -1, -1}},
			{at: 20 * s, do: "reserve", limits: []string{"L"}, tokens: 1, deny: deny("key:a", DeniedTokens, 40*s, rem{0, -1, -1})},
			{at: 30500 * time.Millisecond, do: "reserve", limits: []string{"L"}, tokens: 700, deny: deny("key:a", DeniedTokens, 39500*time.Millisecond, rem{0, -1, -1})},
			{at: 60 * s, do: "reserve", limits: []string{"L"}, tokens: 600, rem: &rem{0, -1, -1}},
		}},
		{"rpm slides per second", []op{
			{at: 0, do: "reserve", limits: []string{"R"}, rem: &rem{-1, 1, -1}},
			{at: 1 * s, do: "reserve", limits: []string{"R"}, rem: &rem{-1, 0, -1}},
			{at: 2250 * time.Millisecond, do: "reserve", limits: []string{"R"}, deny: deny("key:r", DeniedRequests, 57750*time.Millisecond, rem{-1, 0, -1})},
			{at: 60 * s, do: "reserve", limits: []string{"R"}, rem: &rem{-1, 0, -1}},
			{at: 61 * s, do: "reserve", limits: []string{"R"}, rem: &rem{-1, 0, -1}},
			{at: 61 * s, do: "reserve", limits: []string{"R"}, deny: deny("key:r", DeniedRequests, 59*s, rem{-1, 0, -1})},
		}},
		{"hourly quota denies until the next hour", []op{
			{at: 0, do: "reserve", limits: []string{"Q"}, tokens: 600, rem: &rem{-1, -1, 400}},
			{at: 10 * time.Minute, do: "reserve", limits: []string{"Q"}, tokens: 500, deny: deny("key:q", DeniedQuota, 50*time.Minute, rem{-1, -1, 400})},
			{at: 10 * time.Minute, do: "reserve", limits: []string{"Q"}, tokens: 400, rem: &rem{-1, -1, 0}},
			{at: time.Hour - s, do: "reserve", limits: []string{"Q"}, tokens: 1, deny: deny("key:q", DeniedQuota, s, rem{-1, -1, 0})},
			{at: time.Hour, do: "reserve", limits: []string{"Q"}, tokens: 1000, rem: &rem{-1, -1, 0}},
		}},
		{"settle refunds the difference", []op{
			{at: 0, do: "reserve", limits: []string{"L"}, tokens: 800},
			{at: s, do: "settle", ref: 0, tokens: 200},
			{at: 2 * s, do: "reserve", limits: []string{"L"}, tokens: 800, rem: &rem{0, -1, -1}},
		}},
		{"adjust gives an upper bound's excess back before settling", []op{
			{at: 0, do: "reserve", limits: []string{"L", "Q"}, tokens: 900, rem: &rem{100, -1, 100}},
			{at: s, do: "reserve", limits: []string{"L"}, tokens: 500, deny: deny("key:a", DeniedTokens, 59*s, rem{100, -1, -1})},
			{at: s, do: "adjust", ref: 0, tokens: 300},
			{at: s, do: "reserve", limits: []string{"L"}, tokens: 500, rem: &rem{200, -1, -1}},
			{at: 2 * s, do: "settle", ref: 0, tokens: 250},
			{at: 2 * s, do: "adjust", ref: 0, tokens: 10}, // settled: no effect
			{at: 3 * s, do: "reserve", limits: []string{"L", "Q"}, tokens: 250, rem: &rem{0, -1, 500}},
		}},
		{"settle charges usage above the estimate", []op{
			{at: 0, do: "reserve", limits: []string{"L"}, tokens: 100},
			{at: s, do: "settle", ref: 0, tokens: 900},
			{at: 2 * s, do: "reserve", limits: []string{"L"}, tokens: 100, rem: &rem{0, -1, -1}},
			{at: 3 * s, do: "reserve", limits: []string{"L"}, tokens: 1, deny: deny("key:a", DeniedTokens, 57*s, rem{0, -1, -1})},
		}},
		{"cancel refunds tokens and the request", []op{
			{at: 0, do: "reserve", limits: []string{"C"}, tokens: 100, rem: &rem{0, 0, -1}},
			{at: s, do: "cancel", ref: 0},
			{at: 2 * s, do: "reserve", limits: []string{"C"}, tokens: 100, rem: &rem{0, 0, -1}},
		}},
		{"all or nothing across scopes", []op{
			{at: 0, do: "reserve", limits: []string{"L", "B"}, tokens: 400, rem: &rem{100, -1, -1}},
			{at: s, do: "reserve", limits: []string{"L", "B"}, tokens: 200, deny: deny("deployment:b", DeniedTokens, 59*s, rem{100, -1, -1})},
			{at: 2 * s, do: "reserve", limits: []string{"L"}, tokens: 600, rem: &rem{0, -1, -1}},
		}},
		{"denial names the scope that frees up last", []op{
			{at: 0, do: "reserve", limits: []string{"L"}, tokens: 1000},
			{at: 0, do: "reserve", limits: []string{"Q"}, tokens: 1000},
			{at: 30 * s, do: "reserve", limits: []string{"L", "Q"}, tokens: 10, deny: deny("key:q", DeniedQuota, 59*time.Minute+30*s, rem{0, -1, 0})},
		}},
		{"settle after the window charges the current bucket", []op{
			{at: 0, do: "reserve", limits: []string{"L"}, tokens: 100},
			{at: 70 * s, do: "settle", ref: 0, tokens: 500},
			{at: 71 * s, do: "reserve", limits: []string{"L"}, tokens: 601, deny: deny("key:a", DeniedTokens, 59*s, rem{600, -1, -1})},
			{at: 71 * s, do: "reserve", limits: []string{"L"}, tokens: 600, rem: &rem{0, -1, -1}},
		}},
		{"refund after the window is dropped", []op{
			{at: 0, do: "reserve", limits: []string{"L"}, tokens: 1000},
			{at: 61 * s, do: "settle", ref: 0, tokens: 0},
			{at: 62 * s, do: "reserve", limits: []string{"L"}, tokens: 1000, rem: &rem{0, -1, -1}},
		}},
		{"estimate above the limit waits a whole window", []op{
			{at: 0, do: "reserve", limits: []string{"L"}, tokens: 1001, deny: deny("key:a", DeniedTokens, time.Minute, rem{1000, -1, -1})},
		}},
		{"duplicate keys in one call are merged", []op{
			{at: 0, do: "reserve", limits: []string{"L", "L"}, tokens: 600, deny: deny("key:a", DeniedTokens, time.Minute, rem{1000, -1, -1})},
			{at: 0, do: "reserve", limits: []string{"L", "L"}, tokens: 500, rem: &rem{0, -1, -1}},
		}},
		{"quota settles into the period of admission", []op{
			{at: time.Hour - 10*s, do: "reserve", limits: []string{"Q"}, tokens: 500},
			{at: time.Hour + 5*s, do: "settle", ref: 0, tokens: 1000},
			{at: time.Hour + 6*s, do: "reserve", limits: []string{"Q"}, tokens: 1000, rem: &rem{-1, -1, 0}},
		}},
	}
	for kind, newLimiter := range limiterKinds(t) {
		t.Run(kind, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					runOps(t, newLimiter(t), limits, tt.ops)
				})
			}
		})
	}
}

func runOps(t *testing.T, l Limiter, limits map[string]*Limit, ops []op) {
	t.Helper()
	ctx := context.Background()
	res := make([]*Reservation, len(ops))
	for i, o := range ops {
		now := t0.Add(o.at)
		switch o.do {
		case "reserve":
			var rq []Request
			for _, name := range o.limits {
				rq = append(rq, Request{Limit: limits[name], Tokens: o.tokens})
			}
			r, err := l.Reserve(ctx, now, rq)
			var d *Denial
			if errors.As(err, &d) {
				if o.deny == nil {
					t.Fatalf("op %d: denied %+v, want admitted", i, d)
				}
				if diff := cmp.Diff(o.deny, d, cmpopts.IgnoreFields(Denial{}, "Err")); diff != "" {
					t.Fatalf("op %d: denial (-want +got):\n%s", i, diff)
				}
				continue
			}
			if err != nil {
				t.Fatalf("op %d: %v", i, err)
			}
			if o.deny != nil {
				t.Fatalf("op %d: admitted, want %+v", i, o.deny)
			}
			if o.rem != nil {
				got := rem{r.RemainingTokens, r.RemainingRequests, r.RemainingQuota}
				if diff := cmp.Diff(*o.rem, got); diff != "" {
					t.Fatalf("op %d: remaining (-want +got):\n%s", i, diff)
				}
			}
			res[i] = r
		case "settle":
			if err := res[o.ref].Settle(ctx, now, o.tokens); err != nil {
				t.Fatalf("op %d: settle: %v", i, err)
			}
		case "adjust":
			if err := res[o.ref].Adjust(ctx, now, o.tokens); err != nil {
				t.Fatalf("op %d: adjust: %v", i, err)
			}
		case "cancel":
			if err := res[o.ref].Cancel(ctx, now); err != nil {
				t.Fatalf("op %d: cancel: %v", i, err)
			}
		}
	}
}

func TestReservationLifecycle(t *testing.T) {
	lim := &Limit{Key: "key:x", TPM: 100}
	ctx := context.Background()
	for kind, newLimiter := range limiterKinds(t) {
		t.Run(kind, func(t *testing.T) {
			l := newLimiter(t)
			tests := []struct {
				name string
				run  func(t *testing.T)
			}{
				{"second settle is an error", func(t *testing.T) {
					r, err := l.Reserve(ctx, t0, reqs(10, lim))
					if err != nil {
						t.Fatal(err)
					}
					if err := r.Settle(ctx, t0, 5); err != nil {
						t.Fatal(err)
					}
					if got := r.Tokens(); got != 5 {
						t.Errorf("Tokens after settle = %d, want 5", got)
					}
					if err := r.Cancel(ctx, t0); !errors.Is(err, ErrSettled) {
						t.Errorf("Cancel after Settle = %v, want ErrSettled", err)
					}
				}},
				{"no requests give an empty reservation", func(t *testing.T) {
					r, err := l.Reserve(ctx, t0, nil)
					if err != nil || r == nil {
						t.Fatalf("Reserve(nil) = %v, %v", r, err)
					}
					if r.RemainingTokens != -1 || r.Settle(ctx, t0, 10) != nil {
						t.Errorf("empty reservation: %+v", r)
					}
				}},
				{"nil limit is rejected", func(t *testing.T) {
					if _, err := l.Reserve(ctx, t0, []Request{{Tokens: 1}}); err == nil {
						t.Error("want error")
					}
				}},
				{"negative estimate is rejected", func(t *testing.T) {
					_, err := l.Reserve(ctx, t0, []Request{{Limit: lim, Tokens: -1}})
					var d *Denial
					if err == nil || errors.As(err, &d) {
						t.Errorf("err = %v, want a non-denial error", err)
					}
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, tt.run)
			}
		})
	}
}

// TestReservationInMemory: only a reservation held by Redis says that
// settling it may block.
func TestReservationInMemory(t *testing.T) {
	lim := &Limit{Key: "key:x", TPM: 100}
	ctx := context.Background()
	want := map[string]bool{"local": true, "redis": false}
	for kind, newLimiter := range limiterKinds(t) {
		t.Run(kind, func(t *testing.T) {
			l := newLimiter(t)
			for _, tc := range []struct {
				name string
				reqs []Request
				want bool
			}{
				{name: "one limit", reqs: reqs(10, lim), want: want[kind]},
				{name: "no limits", reqs: nil, want: true},
			} {
				r, err := l.Reserve(ctx, t0, tc.reqs)
				if err != nil {
					t.Fatal(err)
				}
				if got := r.InMemory(); got != tc.want {
					t.Errorf("%s: InMemory() = %v, want %v", tc.name, got, tc.want)
				}
				if err := r.Cancel(ctx, t0); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
