package route

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Member is one upstream of a pool, as configured.
type Member struct {
	Name string
	// Priority groups members; lower is tried first.
	Priority int
	// Weight is the member's share inside its priority group (default 1).
	Weight int
	// Target identifies what the member calls (endpoint, credential,
	// upstream deployment), as an opaque fingerprint the pool only compares:
	// Carry keeps a member's state only when its Name and Target are
	// unchanged. It must never hold a secret.
	Target string
}

// Options tunes a pool. Zero values take the documented defaults.
type Options struct {
	// DefaultBench is how long a 429 without a retry-after benches a member
	// (default 10 s).
	DefaultBench time.Duration
	// MaxBench caps any bench, so an absurd retry-after cannot remove a
	// member for hours (default 5 min).
	MaxBench time.Duration
	// HeadroomTTL is how long a remaining-tokens reading steers weights
	// (default 60 s, Azure's rate window).
	HeadroomTTL time.Duration
	// LastResort makes Candidates return the member that is back soonest
	// instead of an *Unavailable error when none is available.
	LastResort bool
	Breaker    BreakerConfig
}

// Pool is a set of upstreams with their live state: benches, breakers and
// headroom. It is safe for concurrent use; one pool serves every request of
// a route until a config reload builds a new one, which takes over the
// state of unchanged members with Carry.
type Pool struct {
	opts Options
	// mu guards every member's health. Carry shares it, with the health it
	// takes over, between a pool and its predecessor, so calls still in
	// flight on the old pool report into the same state.
	mu      *sync.Mutex
	members []member       // sorted by priority, then config order
	tiers   []int          // start index of each priority group, plus len
	byName  map[string]int // name → index in members
}

// member is a Member with its live state.
type member struct {
	Member
	h *health
}

// health is a member's live state, guarded by its pool's mu; times are unix
// nanoseconds. It outlives a pool when Carry hands it to the next one.
type health struct {
	benchUntil int64
	remaining  int64 // last x-ratelimit-remaining-tokens, -1 unknown
	remAt      int64
	peak       int64
	peakAt     int64
	br         breaker
}

// NewPool builds a pool; member names must be unique and non-empty.
func NewPool(members []Member, opts Options) (*Pool, error) {
	if len(members) == 0 {
		return nil, errors.New("new pool: no members")
	}
	if opts.DefaultBench <= 0 {
		opts.DefaultBench = 10 * time.Second
	}
	if opts.MaxBench <= 0 {
		opts.MaxBench = 5 * time.Minute
	}
	if opts.HeadroomTTL <= 0 {
		opts.HeadroomTTL = time.Minute
	}
	opts.Breaker = opts.Breaker.withDefaults()
	p := &Pool{opts: opts, mu: new(sync.Mutex), byName: make(map[string]int, len(members))}
	var errs []error
	for _, m := range members {
		if m.Name == "" {
			errs = append(errs, errors.New("new pool: member without a name"))
			continue
		}
		if _, dup := p.byName[m.Name]; dup {
			errs = append(errs, fmt.Errorf("new pool: member %q listed twice", m.Name))
			continue
		}
		if m.Weight < 0 {
			errs = append(errs, fmt.Errorf("new pool: member %q: negative weight %d", m.Name, m.Weight))
			continue
		}
		if m.Weight == 0 {
			m.Weight = 1
		}
		p.byName[m.Name] = -1
		p.members = append(p.members, member{Member: m})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortStableFunc(p.members, func(a, b member) int { return a.Priority - b.Priority })
	hs := make([]health, len(p.members)) // side by side, as they are read together
	for i := range p.members {
		hs[i].remaining = -1
		p.members[i].h = &hs[i]
	}
	for i := range p.members {
		p.byName[p.members[i].Name] = i
		if i == 0 || p.members[i].Priority != p.members[i-1].Priority {
			p.tiers = append(p.tiers, i)
		}
	}
	p.tiers = append(p.tiers, len(p.members))
	return p, nil
}

// Members returns the members in attempt-group order (priority, then
// configuration order); AppendCandidates' indices point into it.
func (p *Pool) Members() []Member {
	out := make([]Member, len(p.members))
	for i := range p.members {
		out[i] = p.members[i].Member
	}
	return out
}

// Candidates returns the member names to try, in order. rnd draws the
// weighted order; nil uses the goroutine-safe global source, and tests pass
// a seeded one (a rand.Source is not safe to share between goroutines). See
// the package doc for the order and the *Unavailable error. A half-open
// member handed out first is its breaker's probe: report it with Observe.
func (p *Pool) Candidates(now time.Time, rnd rand.Source) ([]string, error) {
	out, err := p.AppendCandidateNames(nil, now, rnd)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AppendCandidateNames is Candidates appending to dst: with room in dst,
// as the data plane's per-call buffer has, it allocates nothing.
func (p *Pool) AppendCandidateNames(dst []string, now time.Time, rnd rand.Source) ([]string, error) {
	var buf [16]int
	idx, err := p.AppendCandidates(buf[:0], now, rnd)
	if err != nil {
		return dst, err
	}
	for _, j := range idx {
		dst = append(dst, p.members[j].Name)
	}
	return dst, nil
}

// AppendCandidates is Candidates without allocation: it appends indices
// into Members() to dst.
func (p *Pool) AppendCandidates(dst []int, now time.Time, rnd rand.Source) ([]int, error) {
	t := now.UnixNano()
	start := len(dst)
	p.mu.Lock()
	defer p.mu.Unlock()
	for g := 0; g+1 < len(p.tiers); g++ {
		lo, hi := p.tiers[g], p.tiers[g+1]
		probe := -1
		var pick [16]weighted
		cand := pick[:0]
		for i := lo; i < hi; i++ {
			m := &p.members[i]
			if t < m.h.benchUntil {
				continue
			}
			switch m.h.br.state(t) {
			case Closed:
				cand = append(cand, weighted{i, p.weight(m, t)})
			case HalfOpen:
				if probe < 0 && m.h.br.probeFree(t) {
					probe = i
				}
			}
		}
		// The probe goes first, and only when it is the first attempt of
		// the call: a half-open member gets exactly one call.
		if probe >= 0 && len(dst) == start {
			p.members[probe].h.br.claimProbe(t, p.opts.Breaker.ProbeTimeout)
			dst = append(dst, probe)
		}
		dst = appendShuffled(dst, cand, rnd)
	}
	if len(dst) > start {
		return dst, nil
	}
	soonest, at := p.soonest(t)
	if p.opts.LastResort {
		return append(dst, soonest), nil
	}
	return dst, &Unavailable{RetryAfter: time.Duration(at - t)}
}

// soonest returns the member that becomes available first and when.
func (p *Pool) soonest(t int64) (idx int, at int64) {
	for i := range p.members {
		h := p.members[i].h
		a := max(h.benchUntil, h.br.availableAt(t))
		if i == 0 || a < at {
			idx, at = i, a
		}
	}
	return idx, max(at, t)
}

// weight is the member's weight scaled by its headroom (package doc).
func (p *Pool) weight(m *member, t int64) float64 {
	w, h := float64(m.Weight), m.h
	if h.remaining < 0 || h.peak <= 0 || t-h.remAt > int64(p.opts.HeadroomTTL) {
		return w
	}
	return w * (0.1 + 0.9*min(1, float64(h.remaining)/float64(h.peak)))
}

type weighted struct {
	idx int
	w   float64
}

// appendShuffled appends cand in weighted random order: each next member is
// drawn with probability proportional to its weight among those left.
func appendShuffled(dst []int, cand []weighted, rnd rand.Source) []int {
	total := 0.0
	for _, c := range cand {
		total += c.w
	}
	for n := len(cand); n > 0; n-- {
		x := uniform(rnd) * total
		k := n - 1 // rounding leftovers land on the last
		for i := 0; i < n-1; i++ {
			if x < cand[i].w {
				k = i
				break
			}
			x -= cand[i].w
		}
		dst = append(dst, cand[k].idx)
		total -= cand[k].w
		cand[k] = cand[n-1]
	}
	return dst
}

// uniform returns a float64 in [0, 1).
func uniform(rnd rand.Source) float64 {
	var u uint64
	if rnd == nil {
		u = rand.Uint64()
	} else {
		u = rnd.Uint64()
	}
	return float64(u>>11) / (1 << 53)
}
