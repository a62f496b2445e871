package route

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

var t0 = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

func newPool(t testing.TB, opts Options, members ...Member) *Pool {
	t.Helper()
	p, err := NewPool(members, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func seeded(seed uint64) rand.Source { return rand.NewPCG(seed, seed^0x9e3779b97f4a7c15) }

// step is one event on a pool's fake clock: an observed outcome, then the
// candidate list expected at that time.
type step struct {
	name    string
	at      time.Duration
	observe map[string]Outcome
	// want is the candidate set per priority group, each group unordered.
	want    [][]string
	wantErr time.Duration // RetryAfter of the *Unavailable, when want is nil
}

func TestCandidatesScenarios(t *testing.T) {
	s := time.Second
	rl := func(after time.Duration) Outcome { return Outcome{Status: 429, RetryAfter: after, RemainingTokens: -1} }
	fail := Outcome{Status: 500, RemainingTokens: -1}
	tests := []struct {
		name    string
		opts    Options
		members []Member
		steps   []step
	}{
		{
			name:    "tier spillover and return when the bench expires",
			members: []Member{{Name: "east", Priority: 1, Weight: 3}, {Name: "sweden", Priority: 2}, {Name: "west", Priority: 1}},
			steps: []step{
				{name: "all up: higher group first, then the lower", want: [][]string{{"east", "west"}, {"sweden"}}},
				{name: "one benched: its group partner first", observe: map[string]Outcome{"east": rl(10 * s)}, want: [][]string{{"west"}, {"sweden"}}},
				{name: "group empty: spill to priority 2", at: s, observe: map[string]Outcome{"west": rl(0)}, want: [][]string{{"sweden"}}},
				{name: "east's bench ends", at: 10 * s, want: [][]string{{"east"}, {"sweden"}}},
				{name: "west's default bench ends", at: 11 * s, want: [][]string{{"east", "west"}, {"sweden"}}},
			},
		},
		{
			name:    "nothing available: error with the soonest return",
			members: []Member{{Name: "a"}, {Name: "b", Priority: 1}},
			opts:    Options{MaxBench: 20 * s},
			steps: []step{
				{name: "both benched", observe: map[string]Outcome{"a": rl(30 * s), "b": rl(8 * s)}, wantErr: 8 * s},
				{name: "bench capped at MaxBench", at: 9 * s, observe: map[string]Outcome{"b": rl(time.Hour)}, wantErr: 11 * s},
			},
		},
		{
			name:    "last resort returns the soonest member",
			members: []Member{{Name: "a"}, {Name: "b"}},
			opts:    Options{LastResort: true},
			steps: []step{
				{observe: map[string]Outcome{"a": rl(5 * s), "b": rl(3 * s)}, want: [][]string{{"b"}}},
			},
		},
		{
			name:    "503 with retry-after benches; without, it only counts as a failure",
			members: []Member{{Name: "a"}, {Name: "b"}},
			steps: []step{
				{observe: map[string]Outcome{"a": {Status: 503, RetryAfter: 4 * s, RemainingTokens: -1}, "b": {Status: 503, RemainingTokens: -1}}, want: [][]string{{"b"}}},
				{at: 4 * s, want: [][]string{{"a", "b"}}},
			},
		},
		{
			name:    "a canceled client says nothing about the member",
			members: []Member{{Name: "a"}},
			opts:    Options{Breaker: BreakerConfig{ConsecutiveFailures: 1}},
			steps: []step{
				{observe: map[string]Outcome{"a": {Err: context.Canceled, RemainingTokens: -1}}, want: [][]string{{"a"}}},
				{observe: map[string]Outcome{"a": fail}, wantErr: 30 * s},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, tt.opts, tt.members...)
			for _, st := range tt.steps {
				now := t0.Add(st.at)
				for name, o := range st.observe {
					p.Observe(name, o, now)
				}
				got, err := p.Candidates(now, seeded(1))
				if st.want == nil {
					var u *Unavailable
					if !errors.As(err, &u) || u.RetryAfter != st.wantErr {
						t.Fatalf("%s: Candidates = %v, %v; want Unavailable after %v", st.name, got, err, st.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				if diff := cmp.Diff(st.want, groups(got, st.want)); diff != "" {
					t.Fatalf("%s: candidates %v (-want +got):\n%s", st.name, got, diff)
				}
			}
		})
	}
}

// groups cuts got into groups of want's sizes, each sorted like want's.
func groups(got []string, want [][]string) [][]string {
	var out [][]string
	for _, w := range want {
		n := min(len(w), len(got))
		g := append([]string(nil), got[:n]...)
		got = got[n:]
		for i := range g { // order-insensitive: sort as want is sorted
			for j := i + 1; j < len(g); j++ {
				if g[j] < g[i] {
					g[i], g[j] = g[j], g[i]
				}
			}
		}
		out = append(out, g)
	}
	if len(got) > 0 {
		out = append(out, got)
	}
	return out
}

// TestWeightsDistribution checks the first pick's frequency against the
// weights: with n draws the standard error is sqrt(p(1-p)/n) ≤ 0.0025 at
// n = 40,000, so a 0.015 bound is a six-sigma test with a fixed seed.
func TestWeightsDistribution(t *testing.T) {
	const draws = 40000
	tests := []struct {
		name    string
		members []Member
		want    map[string]float64
	}{
		{"3 to 1", []Member{{Name: "x", Weight: 3}, {Name: "y", Weight: 1}}, map[string]float64{"x": 0.75, "y": 0.25}},
		{"default weights are equal", []Member{{Name: "a"}, {Name: "b"}, {Name: "c"}}, map[string]float64{"a": 1.0 / 3, "b": 1.0 / 3, "c": 1.0 / 3}},
		{"1, 2, 7", []Member{{Name: "a", Weight: 1}, {Name: "b", Weight: 2}, {Name: "c", Weight: 7}}, map[string]float64{"a": 0.1, "b": 0.2, "c": 0.7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, Options{}, tt.members...)
			got := firstPicks(t, p, t0, draws)
			for name, want := range tt.want {
				if math.Abs(got[name]-want) > 0.015 {
					t.Errorf("%s first %.4f of the time, want %.4f", name, got[name], want)
				}
			}
		})
	}
}

func firstPicks(t *testing.T, p *Pool, now time.Time, draws int) map[string]float64 {
	t.Helper()
	rnd := seeded(42)
	counts := map[string]float64{}
	for range draws {
		c, err := p.Candidates(now, rnd)
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != len(p.members) {
			t.Fatalf("candidates %v miss members", c)
		}
		counts[c[0]]++
	}
	for k := range counts {
		counts[k] /= float64(draws)
	}
	return counts
}

func TestHeadroomSteersWeights(t *testing.T) {
	p := newPool(t, Options{}, Member{Name: "full"}, Member{Name: "roomy"})
	p.Observe("full", Outcome{Status: 200, RemainingTokens: 80000}, t0)
	p.Observe("roomy", Outcome{Status: 200, RemainingTokens: 80000}, t0)
	p.Observe("full", Outcome{Status: 200, RemainingTokens: 0}, t0.Add(time.Second))
	// Transport errors carry no header and must not read as "0 left".
	p.Observe("roomy", Outcome{Err: io.ErrUnexpectedEOF}, t0.Add(time.Second))
	steps := []struct {
		name string
		at   time.Duration
		full float64
	}{
		{"a full member gets the floor share", 2 * time.Second, 0.1 / 1.1},
		{"the reading expires after HeadroomTTL", 62 * time.Second, 0.5},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			got := firstPicks(t, p, t0.Add(s.at), 20000)
			if math.Abs(got["full"]-s.full) > 0.015 {
				t.Errorf("full first %.4f of the time, want %.4f", got["full"], s.full)
			}
		})
	}
	if w := p.Snapshot(t0.Add(2 * time.Second))[0].EffectiveWeight; math.Abs(w-0.1) > 1e-9 {
		t.Errorf("EffectiveWeight = %v, want 0.1", w)
	}
}

func TestRetryable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name   string
		status int
		err    error
		want   bool
	}{
		{"connection refused", 0, refused, true},
		{"reset mid-response", 0, syscall.ECONNRESET, true},
		{"per-attempt timeout", 0, context.DeadlineExceeded, true},
		{"client canceled", 0, context.Canceled, false},
		{"wrapped cancel", 0, errors.Join(errors.New("round trip"), context.Canceled), false},
		{"429", 429, nil, true},
		{"500", 500, nil, true},
		{"502", 502, nil, true},
		{"503", 503, nil, true},
		{"504", 504, nil, true},
		{"200", 200, nil, false},
		{"400 context length", 400, nil, false},
		{"401", 401, nil, false},
		{"403", 403, nil, false},
		{"404", 404, nil, false},
		{"408", 408, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Retryable(tt.status, tt.err); got != tt.want {
				t.Errorf("Retryable(%d, %v) = %v, want %v", tt.status, tt.err, got, tt.want)
			}
		})
	}
}

func TestNewPoolRejects(t *testing.T) {
	tests := []struct {
		name    string
		members []Member
		want    []string
	}{
		{"no members", nil, []string{"no members"}},
		{"every problem at once", []Member{{Name: "a"}, {Name: "a"}, {Name: ""}, {Name: "b", Weight: -2}},
			[]string{`"a" listed twice`, "without a name", "negative weight"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPool(tt.members, Options{})
			if err == nil {
				t.Fatal("NewPool succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestUnavailableHTTPError(t *testing.T) {
	e := (&Unavailable{RetryAfter: 1500 * time.Millisecond}).HTTPError()
	want := `{"error":{"code":"503","message": "The service is temporarily unable to process your request. Please try again later."}}`
	if e.Status != 503 || string(httpx.Render(openai.Errors{}, e)) != want || e.Header.Get("Retry-After") != "2" {
		t.Errorf("HTTPError = %d %s %v", e.Status, httpx.Render(openai.Errors{}, e), e.Header)
	}
}

// TestConcurrentUse races Candidates, Observe, State and Snapshot; run
// with -race. Every returned list must be a set of distinct members.
func TestConcurrentUse(t *testing.T) {
	p := newPool(t, Options{}, Member{Name: "a", Weight: 2}, Member{Name: "b"}, Member{Name: "c", Priority: 1})
	outcomes := []Outcome{
		{Status: 200, RemainingTokens: 5000}, {Status: 429, RetryAfter: 50 * time.Millisecond, RemainingTokens: -1},
		{Status: 500, RemainingTokens: -1}, {Err: io.ErrUnexpectedEOF, RemainingTokens: -1}, {Status: 200, RemainingTokens: 100},
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rnd := rand.New(seeded(uint64(g)))
			for i := range 2000 {
				now := t0.Add(time.Duration(i) * 10 * time.Millisecond)
				c, err := p.Candidates(now, rnd)
				var u *Unavailable
				if err != nil && !errors.As(err, &u) {
					t.Error(err)
					return
				}
				seen := map[string]bool{}
				for _, n := range c {
					if seen[n] {
						t.Errorf("duplicate %s in %v", n, c)
						return
					}
					seen[n] = true
				}
				if len(c) > 0 {
					p.Observe(c[0], outcomes[rnd.IntN(len(outcomes))], now)
				}
				if i%100 == 0 {
					_ = p.State("a", now)
					_ = p.Snapshot(now)
				}
			}
		})
	}
	wg.Wait()
}
