package route

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Outcome is what one attempt on a member returned, as the gateway's
// transport saw it.
type Outcome struct {
	// Status is the upstream's HTTP status; 0 when Err is set.
	Status int
	// Err is a transport error: dial, TLS, reset, timeout.
	Err error
	// RetryAfter is the upstream's retry-after (retry-after-ms preferred);
	// 0 when absent.
	RetryAfter time.Duration
	// RemainingTokens is the upstream's x-ratelimit-remaining-tokens; -1
	// when absent. Zero means the member is full, not unknown. It is read
	// only from responses (Err nil, Status set).
	RemainingTokens int
}

// Observe feeds an attempt's outcome back: a 429 (or a 503 with a
// retry-after) benches the member, transport errors and 5xx count as
// breaker failures, anything else as a success, and remaining-tokens steers
// the weights. A client's own cancellation says nothing about the member
// and is ignored. Unknown names are ignored, so a reload racing a request is
// harmless.
func (p *Pool) Observe(name string, o Outcome, now time.Time) {
	t := now.UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.byName[name]
	if !ok {
		return
	}
	m := p.members[i].h
	if o.Err == nil && o.Status != 0 && o.RemainingTokens >= 0 {
		r := int64(o.RemainingTokens)
		m.remaining, m.remAt = r, t
		if r >= m.peak || t-m.peakAt > 2*int64(p.opts.HeadroomTTL) {
			m.peak, m.peakAt = r, t
		}
	}
	if o.Err != nil && errors.Is(o.Err, context.Canceled) {
		return
	}
	bench := o.Status == http.StatusTooManyRequests || (o.Status == http.StatusServiceUnavailable && o.RetryAfter > 0)
	if bench {
		d := o.RetryAfter
		if d <= 0 {
			d = p.opts.DefaultBench
		}
		m.benchUntil = max(m.benchUntil, t+int64(min(d, p.opts.MaxBench)))
	}
	failed := o.Err != nil || o.Status >= 500
	m.br.record(failed, t, &p.opts.Breaker)
}

// Retryable reports whether a failed attempt may be retried on another
// member: transport errors, 429 and 5xx may; other statuses are the
// client's problem and would fail the same way anywhere; a canceled client
// is gone. The gateway still never retries once a byte reached the client.
func Retryable(status int, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled)
	}
	return status == http.StatusTooManyRequests || (status >= 500 && status <= 599)
}
