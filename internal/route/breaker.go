package route

import "time"

// BreakerState is a circuit breaker's state; its values are metric labels.
type BreakerState string

// Breaker states.
const (
	Closed   BreakerState = "closed"
	Open     BreakerState = "open"
	HalfOpen BreakerState = "half_open"
)

// BreakerConfig says when a member's breaker opens and for how long. Zero
// values take the defaults; a negative ConsecutiveFailures or FailureRate
// turns that trigger off.
type BreakerConfig struct {
	// ConsecutiveFailures opens the breaker after this many failures in a
	// row (default 5).
	ConsecutiveFailures int
	// FailureRate opens it when failures/calls in Window reach this
	// fraction (default 0.5) ...
	FailureRate float64
	// ... over at least MinRequests calls (default 20).
	MinRequests int
	// Window is the span of the failure rate (default 60 s).
	Window time.Duration
	// OpenFor is how long the breaker stays open before a probe (default
	// 30 s).
	OpenFor time.Duration
	// ProbeTimeout frees a half-open probe that was handed out but never
	// reported (default OpenFor).
	ProbeTimeout time.Duration
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = 5
	}
	if c.FailureRate == 0 {
		c.FailureRate = 0.5
	}
	if c.MinRequests <= 0 {
		c.MinRequests = 20
	}
	if c.Window <= 0 {
		c.Window = time.Minute
	}
	if c.OpenFor <= 0 {
		c.OpenFor = 30 * time.Second
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = c.OpenFor
	}
	return c
}

// rateBuckets splits the failure-rate window so old calls age out smoothly.
const rateBuckets = 10

// breaker is one member's breaker; the pool's mutex guards it. Times are
// unix nanoseconds.
type breaker struct {
	open       bool  // open, or half-open once openUntil has passed
	openedAt   int64 // when it last tripped, so Carry can apply a new OpenFor
	openUntil  int64 // end of the open period
	probeUntil int64 // a half-open probe is out until then
	consec     int
	bucket     [rateBuckets]bucket
}

// bucket counts one slice of the failure-rate window.
type bucket struct {
	n            int64 // bucket number: t / (Window/rateBuckets)
	calls, fails int
}

// state is the breaker's state at t.
func (b *breaker) state(t int64) BreakerState {
	switch {
	case !b.open:
		return Closed
	case t < b.openUntil:
		return Open
	}
	return HalfOpen
}

func (b *breaker) probeFree(t int64) bool { return t >= b.probeUntil }

func (b *breaker) claimProbe(t int64, timeout time.Duration) {
	b.probeUntil = t + int64(timeout)
}

// availableAt is when the breaker next lets a call through.
func (b *breaker) availableAt(t int64) int64 {
	switch b.state(t) {
	case Open:
		return b.openUntil
	case HalfOpen:
		return max(t, b.probeUntil)
	}
	return t
}

// record counts one call's outcome and moves the state.
func (b *breaker) record(failed bool, t int64, c *BreakerConfig) {
	switch b.state(t) {
	case Open:
		return // a call that started before the trip; it proves nothing
	case HalfOpen:
		if failed {
			b.trip(t, c)
		} else {
			*b = breaker{}
		}
		return
	}
	width := int64(c.Window) / rateBuckets
	n := t / width
	k := &b.bucket[n%rateBuckets]
	if k.n != n {
		k.n, k.calls, k.fails = n, 0, 0
	}
	k.calls++
	if !failed {
		b.consec = 0
		return
	}
	k.fails++
	b.consec++
	if c.ConsecutiveFailures > 0 && b.consec >= c.ConsecutiveFailures {
		b.trip(t, c)
		return
	}
	if c.FailureRate > 0 {
		calls, fails := b.rate(n)
		if calls >= c.MinRequests && float64(fails) >= c.FailureRate*float64(calls) {
			b.trip(t, c)
		}
	}
}

// rate sums the calls and failures of the buckets in the window ending in
// bucket n.
func (b *breaker) rate(n int64) (calls, fails int) {
	for i := range b.bucket {
		if k := &b.bucket[i]; k.n > n-rateBuckets {
			calls += k.calls
			fails += k.fails
		}
	}
	return calls, fails
}

func (b *breaker) trip(t int64, c *BreakerConfig) {
	*b = breaker{open: true, openedAt: t, openUntil: t + int64(c.OpenFor)}
}
