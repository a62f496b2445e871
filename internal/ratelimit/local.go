package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

const (
	localShards = 64
	// sweepEvery is how many new scopes a shard takes before it drops its
	// idle ones, so per-principal scopes do not grow without bound.
	sweepEvery = 4096
)

// Local is the in-process Limiter: exact for one replica, and the fallback
// of Redis when the store is down. Scopes live in a sharded map; each has its
// own mutex, and a call locks its scopes in key order, so concurrent
// multi-scope calls neither deadlock nor over-admit.
type Local struct {
	seed   maphash.Seed
	shards [localShards]localShard
}

type localShard struct {
	mu    sync.RWMutex
	m     map[string]*scope
	added int
}

// scope is one Key's counters.
type scope struct {
	mu       sync.Mutex
	dead     bool // removed by a sweep; callers look the key up again
	inflight int  // unsettled reservations; a scope in use is never swept
	w        window
	qStart   int64 // unix second the current quota period starts
	qEnd     int64
	qUsed    int64
	// Used only when the Local is a Redis limiter's shadow: the limit last
	// charged here (it names the Redis keys to re-seed) and what Redis has
	// not seen yet.
	lim  Limit
	pend *pending
	seen seen
}

// NewLocal returns an empty in-process limiter.
func NewLocal() *Local {
	l := &Local{seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].m = make(map[string]*scope)
	}
	return l
}

var _ Limiter = (*Local)(nil)

// Reserve implements Limiter. It never fails but on malformed requests.
func (l *Local) Reserve(_ context.Context, now time.Time, reqs []Request) (*Reservation, error) {
	r, err := newReservation(now, reqs)
	if err != nil || len(r.items) == 0 {
		return r, err
	}
	if d := l.charge(r, now, chargeChecked); d != nil {
		return nil, d
	}
	r.owner = l
	return r, nil
}

// chargeMode says what a charge checks and records.
type chargeMode uint8

const (
	// chargeChecked admits only what fits (Local.Reserve).
	chargeChecked chargeMode = iota
	// chargeAdmitted records, unchecked, what Redis admitted, and what
	// Redis said was left then (a Redis limiter's shadow).
	chargeAdmitted
	// chargeFallback admits what fits in the local_share of the limits
	// and records it as admitted locally and not yet seen by Redis.
	chargeFallback
	// chargeHeld is chargeFallback for a call that met a hold: the caller
	// charges Redis itself while the hold stands, so nothing is pending.
	chargeHeld
)

// charge locks r's scopes and charges them as mode says (a denial charges
// nothing).
func (l *Local) charge(r *Reservation, now time.Time, mode chargeMode) *Denial {
	sortItems(r.items)
	for !l.lockAll(r.items, now) {
	}
	var d *Denial
	if mode != chargeAdmitted {
		d = admit(r, now)
	} else {
		for i := range r.items {
			it := &r.items[i]
			it.sc.quota(it)
			it.wsec = it.sc.w.add(now.Unix(), it.tokens, 1)
			if it.lim.Quota > 0 {
				it.sc.qUsed += it.tokens
			}
		}
	}
	for i := range r.items {
		it := &r.items[i]
		if d == nil {
			it.sc.inflight++
			it.sc.lim = *it.lim
			switch mode {
			case chargeAdmitted:
				it.sc.seen.set(now.Unix(), int64(r.RemainingTokens), int64(r.RemainingRequests))
			case chargeFallback, chargeHeld:
				if mode == chargeFallback {
					it.sc.pending().add(it, it.wsec, it.tokens, 1)
				}
				it.sc.seen.tok += it.tokens
				it.sc.seen.req++
			}
		}
		it.sc.mu.Unlock()
	}
	return d
}

// pend records r's whole charge as not yet seen by Redis: a held
// admission whose charge may not have reached it.
func (l *Local) pend(r *Reservation) {
	for i := range r.items {
		it := &r.items[i]
		it.sc.mu.Lock()
		it.sc.pending().add(it, it.wsec, it.tokens, 1)
		it.sc.mu.Unlock()
	}
}

// lockAll looks up and locks every item's scope in key order; it reports
// false, with nothing locked, when a sweep removed one meanwhile.
func (l *Local) lockAll(items []item, now time.Time) bool {
	for i := range items {
		items[i].sc = l.scope(items[i].lim.Key, now)
	}
	for i := range items {
		items[i].sc.mu.Lock()
		if items[i].sc.dead {
			for j := 0; j <= i; j++ {
				items[j].sc.mu.Unlock()
			}
			return false
		}
	}
	return true
}

// admit checks every locked scope and, when all fit, charges them. It
// returns the denial that frees up last, or nil.
func admit(r *Reservation, now time.Time) *Denial {
	nowSec, nowMs := now.Unix(), now.UnixMilli()
	var d *Denial
	deny := func(it *item, kind DenialKind, after time.Duration) {
		if d == nil {
			d = &Denial{RemainingTokens: -1, RemainingRequests: -1, RemainingQuota: -1}
		}
		if d.Kind == "" || after > d.RetryAfter {
			d.Key, d.Kind, d.RetryAfter = it.lim.Key, kind, after
		}
	}
	rem := noLeftovers()
	for i := range r.items {
		it := &r.items[i]
		s, lim := it.sc, it.lim
		tok, req := s.w.sums(nowSec)
		qUsed := s.quota(it)
		remTok, remReq, remQ := int64(-1), int64(-1), int64(-1)
		if lim.TPM > 0 {
			remTok = max(0, int64(lim.TPM)-tok)
			if tok+it.tokens > int64(lim.TPM) {
				deny(it, DeniedTokens, s.w.retryAfter(nowMs, tok, it.tokens, int64(lim.TPM), false))
			}
		}
		if lim.RPM > 0 {
			remReq = max(0, int64(lim.RPM)-req)
			if req+1 > int64(lim.RPM) {
				deny(it, DeniedRequests, s.w.retryAfter(nowMs, req, 1, int64(lim.RPM), true))
			}
		}
		if lim.Quota > 0 {
			remQ = max(0, lim.Quota-qUsed)
			if qUsed+it.tokens > lim.Quota {
				deny(it, DeniedQuota, time.Duration(it.qEnd*1000-nowMs)*time.Millisecond)
			}
		}
		if kind, after := s.seen.deny(it, nowMs); kind != "" {
			deny(it, kind, after)
		}
		rem.fold(remTok, remReq, remQ)
	}
	if d != nil {
		d.RemainingTokens, d.RemainingRequests, d.RemainingQuota = int(rem.tok), int(rem.req), rem.quota
		return d
	}
	rem = noLeftovers()
	for i := range r.items {
		it := &r.items[i]
		s, lim := it.sc, it.lim
		it.wsec = s.w.add(nowSec, it.tokens, 1)
		if lim.Quota > 0 {
			s.qUsed += it.tokens
		}
		tok, req := s.w.sums(nowSec)
		remTok, remReq, remQ := int64(-1), int64(-1), int64(-1)
		if lim.TPM > 0 {
			remTok = max(0, int64(lim.TPM)-tok)
		}
		if lim.RPM > 0 {
			remReq = max(0, int64(lim.RPM)-req)
		}
		if lim.Quota > 0 {
			remQ = max(0, lim.Quota-s.qUsed)
		}
		rem.fold(remTok, remReq, remQ)
	}
	r.RemainingTokens, r.RemainingRequests, r.RemainingQuota = int(rem.tok), int(rem.req), rem.quota
	return nil
}

// quota rolls the scope into the item's quota period and returns its use.
func (s *scope) quota(it *item) int64 {
	if it.lim.Quota <= 0 {
		return 0
	}
	if it.qStart > s.qStart {
		s.qStart, s.qEnd, s.qUsed = it.qStart, it.qEnd, 0
	}
	return s.qUsed
}

// settle implements settler: each scope is adjusted on its own, since a
// settle only moves counters and cannot fail.
func (l *Local) settle(_ context.Context, r *Reservation, now time.Time, actual int64, how change) error {
	l.adjust(r, now, actual, how, recordNone)
	return nil
}

// record says what part of a settle a Redis shadow records as pending,
// not yet seen by Redis.
type record uint8

const (
	// recordNone: Redis has the change (or the Local is no shadow).
	recordNone record = iota
	// recordAll: Redis has none of it (never sent).
	recordAll
	// recordIncrease: Redis may have it, a settle sent whose answer never
	// came (Redis runs what it had read when it thaws). An increase is
	// recorded; a refund is dropped, so one Redis applied after all is
	// never given back twice: too strict for the rest of the window,
	// never too loose.
	recordIncrease
)

// adjust moves every scope of r from its charge to actual (or refunds it
// all on cancel); rec says what it records as pending for Redis. Only an
// adjust leaves the reservation in flight.
func (l *Local) adjust(r *Reservation, now time.Time, actual int64, how change, rec record) {
	nowSec := now.Unix()
	for i := range r.items {
		it := &r.items[i]
		s := it.sc
		dtok, dreq := actual-it.tokens, int64(0)
		if how == cancel {
			dtok, dreq = -it.tokens, -1
		}
		s.mu.Lock()
		live := s.w.adjust(it.wsec, nowSec, dtok, dreq)
		if it.lim.Quota > 0 && s.qStart == it.qStart {
			s.qUsed = max(0, s.qUsed+dtok)
		}
		if rec == recordAll || (rec == recordIncrease && dtok > 0) {
			switch {
			case live:
				s.pending().add(it, it.wsec, dtok, dreq)
			case dtok > 0:
				s.pending().add(it, max(nowSec, s.w.last), dtok, 0)
			default:
				s.pending().add(it, -1, dtok, 0) // the quota part only
			}
		}
		if how != adjust {
			s.inflight--
		}
		s.mu.Unlock()
		it.tokens += dtok
	}
}

// scope returns key's scope, creating it; now dates the occasional sweep.
func (l *Local) scope(key string, now time.Time) *scope {
	sh := &l.shards[maphash.String(l.seed, key)%localShards]
	sh.mu.RLock()
	s := sh.m[key]
	sh.mu.RUnlock()
	if s != nil {
		return s
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s = sh.m[key]; s != nil {
		return s
	}
	sh.added++
	if sh.added%sweepEvery == 0 {
		sh.sweep(now)
	}
	s = &scope{}
	sh.m[key] = s
	return s
}

// Sweep drops scopes that hold nothing any more: no unsettled reservation,
// an empty window and no quota use in a running period. It returns how many
// were dropped. Local sweeps by itself as scopes are added; Sweep is for
// callers that want memory back sooner.
func (l *Local) Sweep(now time.Time) int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += sh.sweep(now)
		sh.mu.Unlock()
	}
	return n
}

// sweep drops idle scopes; the caller holds sh.mu.
func (sh *localShard) sweep(now time.Time) int {
	nowSec, n := now.Unix(), 0
	for k, s := range sh.m {
		s.mu.Lock()
		if s.inflight == 0 && s.pend == nil && s.w.empty(nowSec) && (s.qUsed == 0 || nowSec >= s.qEnd) {
			s.dead = true
			delete(sh.m, k)
			n++
		}
		s.mu.Unlock()
	}
	return n
}

// Len returns the number of scopes held, for tests and a gauge.
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// sortItems orders items by key (insertion sort: calls have a handful).
func sortItems(items []item) {
	for i := 1; i < len(items); i++ {
		for j := i; j > 0 && items[j].lim.Key < items[j-1].lim.Key; j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}
}
