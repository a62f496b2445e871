package route

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestBreakerSequence walks one member's breaker through its states on a
// fake clock. Each step observes outcomes on "a", then checks its state and
// whether Candidates offers it (the pool also has a healthy "b").
func TestBreakerSequence(t *testing.T) {
	s := time.Second
	ok := Outcome{Status: 200, RemainingTokens: -1}
	bad := Outcome{Status: 502, RemainingTokens: -1}
	down := Outcome{Err: errors.New("dial tcp: connection refused"), RemainingTokens: -1}
	type step struct {
		name    string
		at      time.Duration
		observe []Outcome
		state   BreakerState
		offered bool // "a" in the candidate list
		first   bool // "a" first in the list (the probe)
	}
	tests := []struct {
		name  string
		cfg   BreakerConfig
		steps []step
	}{
		{
			name: "consecutive failures: open, half-open probe, reopen, close",
			cfg:  BreakerConfig{ConsecutiveFailures: 3, FailureRate: -1, OpenFor: 10 * s},
			steps: []step{
				{name: "two failures and a success reset the run", observe: []Outcome{bad, down, ok, bad, bad}, state: Closed, offered: true},
				{name: "the third in a row opens", at: s, observe: []Outcome{bad}, state: Open},
				{name: "late results while open change nothing", at: 2 * s, observe: []Outcome{ok, ok}, state: Open},
				{name: "still open just before OpenFor", at: 11*s - 1, state: Open},
				{name: "half-open: offered first, once", at: 11 * s, state: HalfOpen, offered: true, first: true},
				{name: "probe out: not offered again", at: 12 * s, state: HalfOpen},
				{name: "probe fails: open again", at: 13 * s, observe: []Outcome{down}, state: Open},
				{name: "second probe", at: 23 * s, state: HalfOpen, offered: true, first: true},
				{name: "probe succeeds: closed", at: 24 * s, observe: []Outcome{ok}, state: Closed, offered: true},
				{name: "counters were reset by the close", at: 25 * s, observe: []Outcome{bad, bad}, state: Closed, offered: true},
			},
		},
		{
			name: "failure rate over a window with a minimum of calls",
			cfg:  BreakerConfig{ConsecutiveFailures: -1, FailureRate: 0.5, MinRequests: 10, Window: 10 * s, OpenFor: 5 * s},
			steps: []step{
				{name: "50% of 8 calls: below the minimum", observe: []Outcome{ok, bad, ok, bad, ok, bad, ok, bad}, state: Closed, offered: true},
				{name: "old calls age out of the window", at: 11 * s, observe: []Outcome{ok, bad}, state: Closed, offered: true},
				{name: "50% of 10 calls in the window opens", at: 12 * s, observe: []Outcome{ok, bad, ok, bad, ok, bad, ok, bad}, state: Open},
				{name: "half-open after OpenFor", at: 17 * s, state: HalfOpen, offered: true, first: true},
			},
		},
		{
			name: "a 429 benches but counts as alive",
			cfg:  BreakerConfig{ConsecutiveFailures: 1},
			steps: []step{
				{name: "429 is not a failure", observe: []Outcome{{Status: 429, RetryAfter: s, RemainingTokens: -1}}, state: Closed},
				{name: "back after the bench", at: s, state: Closed, offered: true},
			},
		},
		{
			name: "an unreported probe frees up after ProbeTimeout",
			cfg:  BreakerConfig{ConsecutiveFailures: 1, OpenFor: 10 * s, ProbeTimeout: 3 * s},
			steps: []step{
				{observe: []Outcome{bad}, state: Open},
				{name: "probe handed out", at: 10 * s, state: HalfOpen, offered: true, first: true},
				{name: "still out", at: 12 * s, state: HalfOpen},
				{name: "timed out: offered again", at: 13 * s, state: HalfOpen, offered: true, first: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, Options{Breaker: tt.cfg}, Member{Name: "a"}, Member{Name: "b"})
			for _, st := range tt.steps {
				now := t0.Add(st.at)
				for _, o := range st.observe {
					p.Observe("a", o, now)
				}
				if got := p.State("a", now); got != st.state {
					t.Fatalf("%s: state %s, want %s", st.name, got, st.state)
				}
				c, err := p.Candidates(now, seeded(3))
				if err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				offered := slices.Contains(c, "a")
				if offered != st.offered || (st.first && c[0] != "a") {
					t.Fatalf("%s: candidates %v, want a offered=%v first=%v", st.name, c, st.offered, st.first)
				}
			}
		})
	}
}

// TestHalfOpenProbeOnlyWhenFirst: a half-open member in a lower group is not
// handed out behind a higher group's members, where the probe would likely
// never be tried.
func TestHalfOpenProbeOnlyWhenFirst(t *testing.T) {
	p := newPool(t, Options{Breaker: BreakerConfig{ConsecutiveFailures: 1, OpenFor: time.Second}},
		Member{Name: "primary"}, Member{Name: "backup", Priority: 1})
	p.Observe("backup", Outcome{Status: 500, RemainingTokens: -1}, t0)
	now := t0.Add(time.Second)
	c, _ := p.Candidates(now, seeded(1))
	if diff := cmp.Diff([]string{"primary"}, c); diff != "" {
		t.Fatalf("candidates (-want +got):\n%s", diff)
	}
	p.Observe("primary", Outcome{Status: 429, RetryAfter: time.Minute, RemainingTokens: -1}, now)
	c, _ = p.Candidates(now, seeded(1))
	if diff := cmp.Diff([]string{"backup"}, c); diff != "" {
		t.Fatalf("with primary benched (-want +got):\n%s", diff)
	}
}

func TestSnapshot(t *testing.T) {
	p := newPool(t, Options{Breaker: BreakerConfig{ConsecutiveFailures: 2, OpenFor: 30 * time.Second}},
		Member{Name: "b", Priority: 2, Weight: 4}, Member{Name: "a", Priority: 1})
	p.Observe("a", Outcome{Status: 429, RetryAfter: 5 * time.Second, RemainingTokens: 10}, t0)
	p.Observe("b", Outcome{Status: 500, RemainingTokens: -1}, t0)
	p.Observe("b", Outcome{Status: 500, RemainingTokens: -1}, t0)
	got := p.Snapshot(t0.Add(time.Second))
	want := []MemberStatus{
		{Member: Member{Name: "a", Priority: 1, Weight: 1}, State: Closed, EffectiveWeight: 1,
			BenchedUntil: t0.Add(5 * time.Second), WindowCalls: 1, RemainingTokens: 10},
		{Member: Member{Name: "b", Priority: 2, Weight: 4}, State: Open, EffectiveWeight: 4,
			OpenUntil: t0.Add(30 * time.Second), RemainingTokens: -1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Snapshot (-want +got):\n%s", diff)
	}
	if m := p.Members(); m[0].Name != "a" || m[1].Name != "b" {
		t.Errorf("Members() = %v, want priority order", m)
	}
}
