package route

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// Unavailable is Candidates' error when every member is benched or open.
type Unavailable struct {
	// RetryAfter is the time until the soonest member is back.
	RetryAfter time.Duration
}

// Error describes the outage for the log.
func (u *Unavailable) Error() string {
	return fmt.Sprintf("no upstream available; soonest back in %v", u.RetryAfter)
}

// HTTPError is the 503 APIM returns for an all-tripped pool, with Azure's
// front-door envelope and a Retry-After in whole seconds (at least 1).
func (u *Unavailable) HTTPError() *httpx.Error {
	secs := max(1, int((u.RetryAfter+time.Second-1)/time.Second))
	e := httpx.FrontDoor(http.StatusServiceUnavailable, httpx.KindUpstreamUnreachble, "503", openai.MsgServiceUnavailable, u)
	return e.WithHeader("Retry-After", strconv.Itoa(secs))
}

// State is member's breaker state at now, for status pages and metrics;
// an unknown member reads as Closed.
func (p *Pool) State(name string, now time.Time) BreakerState {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.byName[name]
	if !ok {
		return Closed
	}
	return p.members[i].h.br.state(now.UnixNano())
}

// MemberStatus is one member's live state.
type MemberStatus struct {
	Member
	State BreakerState
	// Available is whether Candidates would consider the member now.
	Available bool
	// EffectiveWeight is Weight after headroom steering.
	EffectiveWeight float64
	// BenchedUntil is the end of a 429 bench; zero when not benched.
	BenchedUntil time.Time
	// OpenUntil is when an open breaker goes half-open; zero otherwise.
	OpenUntil           time.Time
	ConsecutiveFailures int
	// WindowCalls and WindowFailures are the failure-rate counters.
	WindowCalls, WindowFailures int
	// RemainingTokens is the last upstream reading; -1 when unknown.
	RemainingTokens int
}

// Snapshot returns every member's state at now, in Members() order.
func (p *Pool) Snapshot(now time.Time) []MemberStatus {
	t := now.UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]MemberStatus, len(p.members))
	for i := range p.members {
		m := &p.members[i]
		h := m.h
		st := h.br.state(t)
		s := MemberStatus{Member: m.Member, State: st, EffectiveWeight: p.weight(m, t),
			ConsecutiveFailures: h.br.consec, RemainingTokens: int(h.remaining)}
		s.Available = t >= h.benchUntil && (st == Closed || (st == HalfOpen && h.br.probeFree(t)))
		if t < h.benchUntil {
			s.BenchedUntil = time.Unix(0, h.benchUntil).UTC()
		}
		if st == Open {
			s.OpenUntil = time.Unix(0, h.br.openUntil).UTC()
		}
		width := int64(p.opts.Breaker.Window) / rateBuckets
		s.WindowCalls, s.WindowFailures = h.br.rate(t / width)
		out[i] = s
	}
	return out
}
