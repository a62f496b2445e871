package route

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// gen is one config generation: a pool built at `at` that carries from the
// previous generation's pool, then the outcomes reported to it.
type gen struct {
	at      time.Duration
	opts    Options
	members []Member
	observe []report
	carried int // Carry's answer
}

type report struct {
	at   time.Duration
	name string
	o    Outcome
}

// view is the part of a MemberStatus a carry test checks, with times as
// offsets from t0 (0 when unset).
type view struct {
	Name          string
	State         BreakerState
	Available     bool
	Benched, Open time.Duration
	Consec        int
	Calls, Fails  int
	Remaining     int
}

func views(p *Pool, now time.Time) []view {
	var out []view
	off := func(at time.Time) time.Duration {
		if at.IsZero() {
			return 0
		}
		return at.Sub(t0)
	}
	for _, s := range p.Snapshot(now) {
		out = append(out, view{Name: s.Name, State: s.State, Available: s.Available, Benched: off(s.BenchedUntil),
			Open: off(s.OpenUntil), Consec: s.ConsecutiveFailures, Calls: s.WindowCalls, Fails: s.WindowFailures,
			Remaining: s.RemainingTokens})
	}
	return out
}

func TestCarry(t *testing.T) {
	s := time.Second
	rl := func(after time.Duration) Outcome { return Outcome{Status: 429, RetryAfter: after, RemainingTokens: -1} }
	fail := Outcome{Status: 500, RemainingTokens: -1}
	ok := func(rem int) Outcome { return Outcome{Status: 200, RemainingTokens: rem} }
	br3 := Options{Breaker: BreakerConfig{ConsecutiveFailures: 3, FailureRate: -1, OpenFor: 30 * s}}
	trip := []report{{0, "a", fail}, {0, "a", fail}, {0, "a", fail}}
	ab := []Member{{Name: "a", Target: "ta"}, {Name: "b", Target: "tb"}}
	abc := append(ab[:2:2], Member{Name: "c", Target: "tc"})
	tests := []struct {
		name string
		gens []gen
		at   time.Duration // when the last pool is checked
		want []view
	}{
		{
			name: "bench survives an unrelated change and ends on time",
			gens: []gen{
				{members: ab, observe: []report{{0, "a", rl(40 * s)}}},
				{at: s, members: abc, carried: 2},
			},
			at: 2 * s,
			want: []view{
				{Name: "a", State: Closed, Benched: 40 * s, Calls: 1, Remaining: -1},
				{Name: "b", State: Closed, Available: true, Remaining: -1},
				{Name: "c", State: Closed, Available: true, Remaining: -1},
			},
		},
		{
			name: "bench is over when it ends",
			gens: []gen{
				{members: ab, observe: []report{{0, "a", rl(40 * s)}}},
				{at: s, members: abc, carried: 2},
			},
			at: 40 * s,
			want: []view{
				{Name: "a", State: Closed, Available: true, Calls: 1, Remaining: -1},
				{Name: "b", State: Closed, Available: true, Remaining: -1},
				{Name: "c", State: Closed, Available: true, Remaining: -1},
			},
		},
		{
			name: "a changed target starts fresh, the others carry",
			gens: []gen{
				{members: ab, observe: []report{{0, "a", rl(40 * s)}, {0, "b", rl(40 * s)}}},
				{at: s, members: []Member{{Name: "a", Target: "ta2"}, {Name: "b", Target: "tb"}}, carried: 1},
			},
			at: 2 * s,
			want: []view{
				{Name: "a", State: Closed, Available: true, Remaining: -1},
				{Name: "b", State: Closed, Benched: 40 * s, Calls: 1, Remaining: -1},
			},
		},
		{
			name: "a removed member's state is dropped, so re-adding it starts fresh",
			gens: []gen{
				{members: ab, observe: []report{{0, "a", rl(40 * s)}}},
				{at: s, members: ab[1:], carried: 1},
				{at: 2 * s, members: ab, carried: 1},
			},
			at: 3 * s,
			want: []view{
				{Name: "a", State: Closed, Available: true, Remaining: -1},
				{Name: "b", State: Closed, Available: true, Remaining: -1},
			},
		},
		{
			name: "open breaker stays open, with its counters",
			gens: []gen{
				{opts: br3, members: ab, observe: trip},
				{at: s, opts: br3, members: abc, carried: 2},
			},
			at: 29 * s,
			want: []view{
				{Name: "a", State: Open, Open: 30 * s, Remaining: -1},
				{Name: "b", State: Closed, Available: true, Remaining: -1},
				{Name: "c", State: Closed, Available: true, Remaining: -1},
			},
		},
		{
			name: "a shorter open_for counts from when the breaker opened",
			gens: []gen{
				{opts: br3, members: ab, observe: trip},
				{at: 5 * s, opts: Options{Breaker: BreakerConfig{ConsecutiveFailures: 3, OpenFor: 10 * s}}, members: ab, carried: 2},
			},
			at: 10 * s,
			want: []view{
				{Name: "a", State: HalfOpen, Available: true, Remaining: -1},
				{Name: "b", State: Closed, Available: true, Remaining: -1},
			},
		},
		{
			name: "a longer open_for extends the open period",
			gens: []gen{
				{opts: br3, members: ab, observe: trip},
				{at: 5 * s, opts: Options{Breaker: BreakerConfig{ConsecutiveFailures: 3, OpenFor: time.Minute}}, members: ab, carried: 2},
			},
			at: 45 * s,
			want: []view{
				{Name: "a", State: Open, Open: time.Minute, Remaining: -1},
				{Name: "b", State: Closed, Available: true, Remaining: -1},
			},
		},
		{
			name: "a lowered max_bench cuts a carried bench from the reload",
			gens: []gen{
				{members: ab, observe: []report{{0, "a", rl(4 * time.Minute)}}},
				{at: 10 * s, opts: Options{MaxBench: time.Minute}, members: ab, carried: 2},
			},
			at: 11 * s,
			want: []view{
				{Name: "a", State: Closed, Benched: 70 * s, Calls: 1, Remaining: -1},
				{Name: "b", State: Closed, Available: true, Remaining: -1},
			},
		},
		{
			name: "failure counts and headroom carry while the window is unchanged",
			gens: []gen{
				{members: ab, observe: []report{{0, "a", fail}, {0, "a", fail}, {0, "b", ok(500)}, {s, "b", ok(100)}}},
				{at: 2 * s, members: abc, carried: 2},
			},
			at: 3 * s,
			want: []view{
				{Name: "a", State: Closed, Available: true, Consec: 2, Calls: 2, Fails: 2, Remaining: -1},
				{Name: "b", State: Closed, Available: true, Calls: 2, Remaining: 100},
				{Name: "c", State: Closed, Available: true, Remaining: -1},
			},
		},
		{
			name: "a changed window restarts the failure rate but keeps the run of failures",
			gens: []gen{
				{members: ab, observe: []report{{0, "a", fail}, {0, "a", fail}}},
				{at: 2 * s, opts: Options{Breaker: BreakerConfig{Window: 30 * s}}, members: ab, carried: 2},
			},
			at: 3 * s,
			want: []view{
				{Name: "a", State: Closed, Available: true, Consec: 2, Remaining: -1},
				{Name: "b", State: Closed, Available: true, Remaining: -1},
			},
		},
		{
			name: "a lowered threshold opens on the next failure",
			gens: []gen{
				{members: ab, observe: []report{{0, "a", fail}, {0, "a", fail}, {0, "a", fail}}},
				{at: s, opts: Options{Breaker: BreakerConfig{ConsecutiveFailures: 2, OpenFor: 30 * s}}, members: ab, carried: 2,
					observe: []report{{2 * s, "a", fail}}},
			},
			at: 3 * s,
			want: []view{
				{Name: "a", State: Open, Open: 32 * s, Remaining: -1},
				{Name: "b", State: Closed, Available: true, Remaining: -1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p *Pool
			for i, g := range tt.gens {
				next := newPool(t, g.opts, g.members...)
				if n := next.Carry(p, t0.Add(g.at)); n != g.carried {
					t.Fatalf("generation %d carried %d members, want %d", i, n, g.carried)
				}
				p = next
				for _, r := range g.observe {
					p.Observe(r.name, r.o, t0.Add(r.at))
				}
			}
			if diff := cmp.Diff(tt.want, views(p, t0.Add(tt.at))); diff != "" {
				t.Errorf("state after reload (-want +got):\n%s", diff)
			}
			// Routing agrees with the state: unavailable members are left out.
			c, _ := p.Candidates(t0.Add(tt.at), seeded(1))
			for _, v := range tt.want {
				offered := false
				for _, n := range c {
					offered = offered || n == v.Name
				}
				if offered != v.Available {
					t.Errorf("%s offered=%v, want %v (candidates %v)", v.Name, offered, v.Available, c)
				}
			}
		})
	}
}

// TestCarryLateReports: a call that started on the old pool and reports after
// the reload lands in the new pool's state, so a 429 or a probe's answer
// that crosses a reload is not lost.
func TestCarryLateReports(t *testing.T) {
	opts := Options{Breaker: BreakerConfig{ConsecutiveFailures: 1, OpenFor: 10 * time.Second}}
	old := newPool(t, opts, Member{Name: "a", Target: "t"}, Member{Name: "b", Target: "t"})
	old.Observe("b", Outcome{Status: 500, RemainingTokens: -1}, t0)
	probeAt := t0.Add(10 * time.Second)
	if c, _ := old.Candidates(probeAt, seeded(1)); c[0] != "b" {
		t.Fatalf("b is not the probe: %v", c)
	}
	p := newPool(t, opts, Member{Name: "a", Target: "t"}, Member{Name: "b", Target: "t"})
	p.Carry(old, probeAt)
	old.Observe("a", Outcome{Status: 429, RetryAfter: time.Minute, RemainingTokens: -1}, probeAt)
	old.Observe("b", Outcome{Status: 200, RemainingTokens: -1}, probeAt)
	c, err := p.Candidates(probeAt, seeded(1))
	if diff := cmp.Diff([]string{"b"}, c); diff != "" || err != nil {
		t.Fatalf("candidates after late reports (-want +got): %v\n%s", err, diff)
	}
}

// TestCarryConcurrent runs reloads while the old pools serve calls; -race
// checks that carrying shares state safely.
func TestCarryConcurrent(t *testing.T) {
	members := []Member{{Name: "a", Target: "t"}, {Name: "b", Target: "t"}, {Name: "c", Target: "t"}}
	var mu sync.Mutex
	cur := newPool(t, Options{}, members...)
	load := func() *Pool { mu.Lock(); defer mu.Unlock(); return cur }
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			rnd := seeded(uint64(g))
			buf := make([]int, 0, 4)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := load()
				now := t0.Add(time.Duration(i) * time.Millisecond)
				idx, _ := p.AppendCandidates(buf[:0], now, rnd)
				for _, j := range idx {
					p.Observe(members[j].Name, Outcome{Status: []int{200, 429, 500}[i%3], RemainingTokens: i}, now)
				}
				_ = p.Snapshot(now)
			}
		})
	}
	for i := range 200 {
		next := newPool(t, Options{Breaker: BreakerConfig{Window: time.Duration(1+i%2) * time.Minute}}, members...)
		next.Carry(load(), t0)
		mu.Lock()
		cur = next
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
}
