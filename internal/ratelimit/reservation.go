package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Limiter admits calls against several scopes at once. Both Local and Redis
// implement it; the gateway holds one for its whole pipeline.
type Limiter interface {
	// Reserve charges every request's estimate to its limit, all or nothing,
	// at time now. A denial is returned as a *Denial error; any other error
	// means the reservation could not be attempted. Zero requests yield an
	// empty reservation, so callers never branch on "no limits configured".
	Reserve(ctx context.Context, now time.Time, reqs []Request) (*Reservation, error)
}

// Request is one scope's share of a call: the limit and the tokens estimated
// at admission (prompt estimate + max_tokens, as Azure does, wire reference
// §2.9). Requests naming the same Key in one call are merged, their tokens
// added, and the first Limit's values used.
type Request struct {
	Limit  *Limit
	Tokens int
}

// ErrSettled is returned by a second Settle or Cancel of one reservation:
// the charge was already final, so the call is a bug in the caller.
var ErrSettled = errors.New("reservation already settled")

// Reservation is an admitted call's charge, to be made final with Settle (the
// upstream answered) or Cancel (it was never called). Like rate.Reservation,
// it is what lets a limit count estimates at admission and real usage after.
type Reservation struct {
	// RemainingTokens is what the tightest TPM limit has left after this
	// call, for x-ratelimit-remaining-tokens; -1 when no TPM limit applies.
	RemainingTokens int
	// RemainingRequests is the same for RPM; -1 when none applies.
	RemainingRequests int
	// RemainingQuota is the same for quotas; -1 when none applies.
	RemainingQuota int64

	owner settler
	local bool      // Redis: admitted by the local_share fallback
	at    time.Time // admission time
	items []item    // points into buf unless a call has more scopes
	buf   [4]item
	done  atomic.Bool
	// mu orders an Adjust against the Settle or Cancel that ends it.
	mu sync.Mutex
}

// item is one scope's part of a reservation.
type item struct {
	lim    *Limit
	tokens int64 // charged now: the estimate until Settle
	sc     *scope
	wsec   int64 // Local: the window second the call was charged to
	qStart int64 // unix second the admission's quota period starts
	qEnd   int64 // unix second it ends
}

// settler moves a reservation's charge in the store that holds it.
type settler interface {
	settle(ctx context.Context, r *Reservation, now time.Time, actual int64, how change) error
}

// change is what a settle does to a reservation's charge.
type change uint8

const (
	// final: the charge becomes actual and the reservation ends.
	final change = iota
	// cancel: the charge and the request are refunded, and it ends.
	cancel
	// adjust: the charge becomes actual and the reservation stays open.
	adjust
)

// Settle makes the charge the actual token count: the difference to the
// estimate is refunded or added in every scope (see the package doc for
// which bucket it lands in). A client that disconnected mid-stream is
// charged what was generated: pass that count. Settle never denies.
func (r *Reservation) Settle(ctx context.Context, now time.Time, actualTokens int) error {
	if r.done.Swap(true) {
		return ErrSettled
	}
	if r.owner == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.owner.settle(ctx, r, now, int64(max(actualTokens, 0)), final)
}

// Adjust moves the charge to tokens without ending the reservation: the
// caller learned a better estimate (an exact count where it reserved an
// upper bound) and gives the difference back to concurrent calls at once.
// It does nothing once the reservation is settled or cancelled.
func (r *Reservation) Adjust(ctx context.Context, now time.Time, tokens int) error {
	if r.owner == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done.Load() {
		return nil
	}
	return r.owner.settle(ctx, r, now, int64(max(tokens, 0)), adjust)
}

// Cancel refunds the whole charge, tokens and the request, because the
// upstream was never called (for example every candidate was down).
func (r *Reservation) Cancel(ctx context.Context, now time.Time) error {
	if r.done.Swap(true) {
		return ErrSettled
	}
	if r.owner == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.owner.settle(ctx, r, now, 0, cancel)
}

// InMemory reports whether settling r touches only this process's
// counters (a Local limiter, or nothing to settle): it cannot block, so a
// caller need not bound it with a deadline of its own.
func (r *Reservation) InMemory() bool {
	_, local := r.owner.(*Local)
	return local || r.owner == nil
}

// Tokens returns the tokens charged per scope right now: the estimate before
// Settle, the actual count after. With merged or differing estimates it
// returns the largest.
func (r *Reservation) Tokens() int {
	var n int64
	for i := range r.items {
		n = max(n, r.items[i].tokens)
	}
	return int(n)
}

// newReservation validates reqs and merges duplicate keys into a fresh
// reservation.
func newReservation(now time.Time, reqs []Request) (*Reservation, error) {
	r := &Reservation{RemainingTokens: -1, RemainingRequests: -1, RemainingQuota: -1, at: now}
	r.items = r.buf[:0]
	for _, q := range reqs {
		if q.Limit == nil {
			return nil, errors.New("reserve: request without a limit")
		}
		if q.Tokens < 0 {
			return nil, fmt.Errorf("reserve %q: negative token estimate %d", q.Limit.Key, q.Tokens)
		}
		merged := false
		for i := range r.items {
			if r.items[i].lim.Key == q.Limit.Key {
				r.items[i].tokens += int64(q.Tokens)
				merged = true
				break
			}
		}
		if !merged {
			it := item{lim: q.Limit, tokens: int64(q.Tokens)}
			if q.Limit.Quota > 0 {
				s, e := q.Limit.QuotaPeriod.BoundsIn(now, q.Limit.QuotaZone)
				it.qStart, it.qEnd = s.Unix(), e.Unix()
			}
			r.items = append(r.items, it)
		}
	}
	return r, nil
}

// leftovers tracks the tightest remaining counts over a call's scopes; -1
// means no scope limits that dimension.
type leftovers struct{ tok, req, quota int64 }

func noLeftovers() leftovers { return leftovers{-1, -1, -1} }

// fold takes one scope's leftovers (-1 for an unlimited dimension).
func (l *leftovers) fold(tok, req, quota int64) {
	if tok >= 0 && (l.tok < 0 || tok < l.tok) {
		l.tok = tok
	}
	if req >= 0 && (l.req < 0 || req < l.req) {
		l.req = req
	}
	if quota >= 0 && (l.quota < 0 || quota < l.quota) {
		l.quota = quota
	}
}
