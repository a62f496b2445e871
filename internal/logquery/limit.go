package logquery

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// Limits bound query work on the management plane, whose queries share the
// machine with the data plane. Zero fields take the defaults below.
type Limits struct {
	// MaxConcurrent caps query requests in progress overall (429 beyond).
	MaxConcurrent int
	// MaxPerPrincipal caps one caller's query requests in progress.
	MaxPerPrincipal int
	// Workers is how many SQL statements run at once; admitted requests
	// wait their turn. Keeping it below the CPU count leaves the data plane
	// cores that queries cannot take.
	Workers int
}

// Default limits.
const (
	DefaultMaxConcurrent   = 8
	DefaultMaxPerPrincipal = 2
	// retryAfterSeconds is the Retry-After of a refused query: queries are
	// seconds long, so one second is a fair first back-off.
	retryAfterSeconds = 1
)

// DefaultWorkers is half the CPUs, at least one.
func DefaultWorkers(cpus int) int { return max(1, cpus/2) }

// Limiter admits query requests under Limits and gates the statements they
// run. A request is admitted once (a dashboard summary of several
// statements counts once against the caps), never queued: a caller over a
// cap gets a 429 at once. Its statements then wait for one of the Workers.
type Limiter struct {
	limits func() Limits // read per request, so a reload applies at once
	work   chan struct{}

	mu      sync.Mutex
	running int
	by      map[string]int
}

// NewLimiter returns a Limiter with workers statement slots (fixed for its
// life) and caps read from limits at each admission.
func NewLimiter(workers int, limits func() Limits) *Limiter {
	if workers < 1 {
		workers = 1
	}
	return &Limiter{limits: limits, work: make(chan struct{}, workers), by: map[string]int{}}
}

// BusyError is a query refused because a cap is reached.
type BusyError struct {
	// Principal says the caller's own cap was reached, rather than the overall one.
	Principal bool
	Limit     int
}

func (e *BusyError) Error() string {
	who := "on this moat"
	if e.Principal {
		who = "for this caller"
	}
	return fmt.Sprintf("Too many log queries are in progress: at most %d %s. Please retry after %d seconds.", e.Limit, who, retryAfterSeconds)
}

// Admit admits one query request for principal, or returns a *BusyError.
// The release function must be called when the request ends.
func (l *Limiter) Admit(principal string) (release func(), err error) {
	lim := l.limits()
	if lim.MaxConcurrent <= 0 {
		lim.MaxConcurrent = DefaultMaxConcurrent
	}
	if lim.MaxPerPrincipal <= 0 {
		lim.MaxPerPrincipal = DefaultMaxPerPrincipal
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.by[principal] >= lim.MaxPerPrincipal {
		return nil, &BusyError{Principal: true, Limit: lim.MaxPerPrincipal}
	}
	if l.running >= lim.MaxConcurrent {
		return nil, &BusyError{Limit: lim.MaxConcurrent}
	}
	l.running++
	l.by[principal]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.running--
			if l.by[principal]--; l.by[principal] == 0 {
				delete(l.by, principal)
			}
		})
	}, nil
}

// Gate wraps a query function so each statement waits for a worker slot.
// The wait counts against the query's time: a context without a deadline
// gets DefaultTimeout for waiting and running together.
func (l *Limiter) Gate(query func(context.Context, string) (*Result, error)) func(context.Context, string) (*Result, error) {
	return func(ctx context.Context, q string) (*Result, error) {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
			defer cancel()
		}
		select {
		case l.work <- struct{}{}:
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return nil, &TimeoutError{Timeout: DefaultTimeout}
			}
			return nil, ctx.Err()
		}
		defer func() { <-l.work }()
		return query(ctx, q)
	}
}

// busyResponse is Azure's 429 envelope with the Retry-After headers SDKs
// honour.
func busyResponse(e *BusyError) *httpx.Error {
	return httpx.New(http.StatusTooManyRequests, httpx.KindPolicyRateLimit, openai.FrontDoorError("429", e.Error()), e).
		WithHeader("Retry-After", strconv.Itoa(retryAfterSeconds)).
		WithHeader("Retry-After-Ms", strconv.Itoa(retryAfterSeconds*1000))
}
