package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// quotaGrace keeps a quota counter this long past its period, so calls
// admitted just before the period ended can still settle into it.
const quotaGrace = 10 * time.Minute

// DefaultTimeout bounds how long one call waits on Redis, all included
// (pool wait, dial, write, script, read), before its limits apply their
// backend-down mode. Redis answers a reserve in well under a millisecond on
// a healthy network, so half a second only ever expires on an outage.
const DefaultTimeout = 500 * time.Millisecond

// RedisOptions tunes a Redis limiter. The zero value is usable.
type RedisOptions struct {
	// Prefix starts every key (default "moat:rl:"). With Redis Cluster, put
	// a hash tag in it (e.g. "{moat}:rl:") so a call's keys share a slot;
	// the scripts touch several keys at once.
	Prefix string
	// Logger receives one line when the store becomes unreachable and one
	// when it is back, never one per call. Nil discards.
	Logger *slog.Logger
	// RetryInterval is how long, after a store error, calls skip the store
	// and go straight to each limit's backend-down mode, so an outage does
	// not add a timeout to every call (default 1 s). While Run runs, calls
	// skip the store until Run's probe finds it back; without Run, one call
	// at a time probes it after this interval.
	RetryInterval time.Duration
	// Timeout bounds each call's wait on Redis to admit it (default
	// DefaultTimeout), a wait for a batch in flight included; a settle,
	// which runs once the answer has gone out, waits at most twice it.
	// Build the client with ClientOptions so its own timeouts agree.
	Timeout time.Duration
	// SyncInterval is how often Run checks the store's epoch and merges
	// what this replica admitted while the store was away (default 250 ms).
	SyncInterval time.Duration
	// Hold is how long every replica takes its backend-down path after a
	// replica found Redis empty or came back with local admissions, so that
	// all replicas put their part of the windows back before shared
	// admission resumes (default 4 × SyncInterval).
	Hold time.Duration
	// Now is Run's clock (default time.Now); calls pass their own time.
	Now func() time.Time
}

// Redis is the Limiter shared by every replica: counters live in Redis and
// Lua scripts check and charge them atomically. When Redis cannot be
// reached it applies each limit's OnBackendDown. A shadow of what this
// replica admitted puts its part of the windows back when Redis returns
// empty, and merges local_share admissions when Redis returns at all.
type Redis struct {
	c       redis.Scripter
	prefix  string
	log     *slog.Logger
	retry   time.Duration
	timeout time.Duration
	every   time.Duration
	hold    time.Duration
	now     func() time.Time
	replica string // random per limiter; names this replica's re-seed batches
	own     *Local // the shadow: everything this replica admitted

	downUntil  atomic.Int64 // unix ms before which the store is skipped
	down       atomic.Bool
	probing    atomic.Bool // one call is probing the store after an outage
	running    atomic.Bool // Run is running: it probes, calls do not
	recovering atomic.Bool // a store error happened since the last sync
	needSync   atomic.Bool // epoch unknown or stale, or pending changes
	// merging is set while a sync that may carry this replica's changes
	// runs: calls wait for it before admitting through the store, which
	// lacks those changes until it ends.
	merging atomic.Bool
	dirty   atomic.Bool // pending changes were recorded
	epoch   atomic.Pointer[string]

	storeErrs, fallbacks, closed, holds, reseeds, merges atomic.Uint64

	scripts    scriptBatcher
	roundTrips atomic.Uint64 // round trips that carried reserves or settles

	syncSem chan struct{} // one sync at a time; its holder owns outbox and seq
	outbox  []batch
	seq     uint64

	drift driftLog
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a limiter over c (a *redis.Client, *redis.ClusterClient
// or *redis.Ring). Build c with ClientOptions: its timeouts and retries
// decide whether Timeout really bounds a call. Call Run to keep the
// replica in step with the store between calls.
func NewRedis(c redis.Scripter, opts RedisOptions) *Redis {
	var id [6]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	r := &Redis{c: c, prefix: opts.Prefix, log: opts.Logger, retry: opts.RetryInterval, timeout: opts.Timeout,
		every: opts.SyncInterval, hold: opts.Hold, now: opts.Now, replica: hex.EncodeToString(id[:]), own: NewLocal(),
		syncSem: make(chan struct{}, 1)}
	if r.prefix == "" {
		r.prefix = "moat:rl:"
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.retry <= 0 {
		r.retry = time.Second
	}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if r.every <= 0 {
		r.every = 250 * time.Millisecond
	}
	if r.hold <= 0 {
		r.hold = 4 * r.every
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.drift.log = r.log
	r.needSync.Store(true)
	return r
}

// Stats are the limiter's counters since it was built, for metrics (read
// them from a collector; this package does not import Prometheus).
type Stats struct {
	// StoreErrors counts failed script calls, reserve and settle.
	StoreErrors uint64
	// FallbackReserves counts calls admitted or denied by the local_share
	// fallback while the store was down.
	FallbackReserves uint64
	// FailClosedDenials counts calls denied because the store was down and
	// a limit was fail_closed.
	FailClosedDenials uint64
	// StoreDown is true between a store error and the next success.
	StoreDown bool
	// Holds counts calls that took the backend-down path because replicas
	// were putting their counts back into Redis.
	Holds uint64
	// Reseeds counts times this replica put its part of the windows back
	// into a Redis that had lost them.
	Reseeds uint64
	// Merges counts times it merged local admissions into Redis.
	Merges uint64
	// RoundTrips counts round trips to Redis that carried reserves or
	// settles: concurrent calls share them (syncs are not counted).
	RoundTrips uint64
}

// Stats returns a snapshot of the counters.
func (r *Redis) Stats() Stats {
	return Stats{StoreErrors: r.storeErrs.Load(), FallbackReserves: r.fallbacks.Load(),
		FailClosedDenials: r.closed.Load(), StoreDown: r.down.Load(),
		Holds: r.holds.Load(), Reseeds: r.reseeds.Load(), Merges: r.merges.Load(),
		RoundTrips: r.roundTrips.Load()}
}

// errStoreSkipped is the cause of denials made while the store is skipped
// after a recent error.
var errStoreSkipped = errors.New("rate limit store unreachable recently; not retried yet")

// errHold is the cause of denials made while replicas re-seed the store.
var errHold = errors.New("rate limit store is being re-seeded by the replicas")

// Reserve implements Limiter.
func (r *Redis) Reserve(ctx context.Context, now time.Time, reqs []Request) (*Reservation, error) {
	res, err := newReservation(now, reqs)
	if err != nil || len(res.items) == 0 {
		return res, err
	}
	probe, ok := r.turn(now)
	if !ok {
		return r.backendDown(ctx, now, res, errStoreSkipped, 0, chargeFallback)
	}
	if probe {
		defer r.probing.Store(false)
	}
	tctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		reply, err := r.reserve(tctx, now, res)
		var h *holdError
		switch {
		case errors.As(err, &h):
			r.holds.Add(1)
			r.storeUp() // the store answered
			local, again, err := r.held(ctx, tctx, now, res, h.wait)
			switch {
			case !again:
				return local, err
			case attempt+1 < maxHeldAttempts:
				continue
			}
			// Holds that keep ending just before this call's charge: admitted
			// locally, it would miss the window once they end.
			return nil, unavailable(res.items[0].lim.Key, r.every, errHold)
		case err != nil && ctx.Err() != nil:
			return nil, fmt.Errorf("reserve rate limit: %w", ctx.Err())
		case err != nil:
			r.storeFailed(now, err)
			return r.backendDown(ctx, now, res, err, 0, chargeFallback)
		}
		r.storeUp()
		return r.parseReserve(now, res, reply)
	}
}

// maxHeldAttempts bounds how often one call meets a hold that ends before
// its held admission reaches Redis; past it the call is refused as during
// a hold under fail_closed.
const maxHeldAttempts = 3

// held admits a call that met a hold. Its limits' on_redis_down decide, as
// in an outage, but a local_share admission is charged to Redis at once by
// a script that first checks the hold still stands. The replicas that
// admit through Redis once the hold ends therefore find it in the window:
// merged at a later sync, as an outage's admissions are, it could land
// after another replica had already admitted against a window without it.
// When the hold ended (or the store lost its data) before the charge, the
// admission is undone and again is set: the call reserves as usual (the
// shadow's count of local admissions since Redis last answered keeps it
// until that answer: stricter, never looser). When Redis does not answer,
// the admission stands as an outage's does.
func (r *Redis) held(ctx, tctx context.Context, now time.Time, res *Reservation, wait time.Duration) (local *Reservation, again bool, err error) {
	local, err = r.backendDown(ctx, now, res, errHold, wait, chargeHeld)
	if err != nil {
		return nil, false, err
	}
	keys, args := r.reserveArgs(res, now)
	deadline, _ := tctx.Deadline()
	n, err := r.scripts.run(tctx, r, heldScript, keys, args, deadline).Int64()
	switch {
	case err != nil && ctx.Err() != nil:
		r.own.adjust(local, now, 0, cancel, recordNone)
		return nil, false, fmt.Errorf("reserve rate limit: %w", ctx.Err())
	case err != nil:
		r.storeFailed(now, err)
		r.fallbacks.Add(1)
		r.own.pend(local)
		local.local = true
		r.markDirty()
		return local, false, nil
	case n == 0:
		return local, false, nil
	}
	r.own.adjust(local, now, 0, cancel, recordNone)
	if n == 2 {
		r.needSync.Store(true) // the store lost its data: re-seed first
	}
	return nil, true, nil
}

// turn says whether this call may use the store, and whether it is the one
// probing it after an outage. While Run runs, it probes and calls never
// wait on a store that may still be down; without it, one call at a time
// probes and the others take the backend-down path.
func (r *Redis) turn(now time.Time) (probe, ok bool) {
	if !r.down.Load() {
		return false, true
	}
	if r.running.Load() || now.UnixMilli() < r.downUntil.Load() || !r.probing.CompareAndSwap(false, true) {
		return false, false
	}
	return true, true
}

// holdError answers a reserve made while replicas re-seed the store.
type holdError struct{ wait time.Duration }

func (h *holdError) Error() string { return "rate limit store on hold for " + h.wait.String() }

// reserve runs the reserve script, syncing first when the epoch is
// unknown or stale or local changes wait to be merged.
func (r *Redis) reserve(ctx context.Context, now time.Time, res *Reservation) ([]int64, error) {
	for attempt := 0; ; attempt++ {
		// needSync again after merging: a merge that fails sets it before
		// it clears merging, so a call that missed both still sees it.
		if r.needSync.Load() || r.merging.Load() || r.needSync.Load() {
			if err := r.sync(ctx, now, false); err != nil {
				return nil, err
			}
		}
		keys, args := r.reserveArgs(res, now)
		deadline, _ := ctx.Deadline() // Reserve's: now + Timeout
		v, err := r.scripts.run(ctx, r, reserveScript, keys, args, deadline).Int64Slice()
		if err != nil {
			return nil, err
		}
		if len(v) == 0 {
			return nil, fmt.Errorf("reserve rate limit: empty script reply")
		}
		switch {
		case v[0] == 2 && attempt == 0:
			r.needSync.Store(true) // Redis lost its data, or this replica is new
			continue
		case v[0] == 2:
			return nil, &holdError{wait: r.every} // the epoch changed again meanwhile
		case v[0] == 3 && len(v) == 2:
			return nil, &holdError{wait: time.Duration(v[1]) * time.Millisecond}
		}
		return v, nil
	}
}

func (r *Redis) reserveArgs(res *Reservation, now time.Time) ([]string, []any) {
	nowMs := now.UnixMilli()
	keys := make([]string, 0, 3*len(res.items)+2)
	args := make([]any, 0, 3+6*len(res.items))
	args = append(args, nowMs, len(res.items), r.epochValue())
	for i := range res.items {
		it := &res.items[i]
		keys = r.appendKeys(keys, it.lim, it.qStart)
		qRetry, qTTL := int64(0), int64(0)
		if it.lim.Quota > 0 {
			qRetry = it.qEnd*1000 - nowMs
			qTTL = qRetry + quotaGrace.Milliseconds()
		}
		args = append(args, it.tokens, it.lim.TPM, it.lim.RPM, it.lim.Quota, qRetry, qTTL)
	}
	return append(keys, r.prefix+"epoch", r.prefix+"hold"), args
}

// appendKeys adds a limit's token window, request window and quota keys.
// The quota key names its period and start, so a new period starts at zero
// and a changed period setting never reuses an old counter.
func (r *Redis) appendKeys(keys []string, lim *Limit, qStart int64) []string {
	q := r.prefix + "q:" + lim.Key
	if lim.Quota > 0 {
		q += ":" + string(lim.QuotaPeriod) + ":" + strconv.FormatInt(qStart, 10)
	}
	return append(keys, r.prefix+"t:"+lim.Key, r.prefix+"r:"+lim.Key, q)
}

func (r *Redis) parseReserve(now time.Time, res *Reservation, v []int64) (*Reservation, error) {
	switch {
	case len(v) == 7 && v[0] == 0:
		r.noteDrift(now, res, v[4:])
		res.RemainingTokens, res.RemainingRequests, res.RemainingQuota = int(v[1]), int(v[2]), v[3]
		res.owner = r
		r.own.charge(res, now, chargeAdmitted)
		return res, nil
	case len(v) == 10 && v[0] == 1 && v[1] >= 1 && int(v[1]) <= len(res.items):
		kinds := [...]DenialKind{1: DeniedTokens, 2: DeniedRequests, 3: DeniedQuota}
		if v[2] < 1 || v[2] > 3 {
			break
		}
		r.noteDrift(now, res, v[7:])
		r.own.see(res, now, v[4], v[5])
		return nil, &Denial{Key: res.items[v[1]-1].lim.Key, Kind: kinds[v[2]],
			RetryAfter:      time.Duration(v[3]) * time.Millisecond,
			RemainingTokens: int(v[4]), RemainingRequests: int(v[5]), RemainingQuota: v[6]}
	}
	return nil, fmt.Errorf("reserve rate limit: unexpected script reply %v", v)
}

// noteDrift reports a limit whose Redis window carries another replica's
// limit: d is {limit index, their tpm, their rpm}.
func (r *Redis) noteDrift(now time.Time, res *Reservation, d []int64) {
	if d[0] >= 1 && int(d[0]) <= len(res.items) {
		r.drift.observe(now, res.items[d[0]-1].lim, int(d[1]), int(d[2]))
	}
}

// backendDown applies the limits' OnBackendDown: one fail_closed limit in
// the call denies it; when all are local_share the shadow decides with the
// scaled limits, counting what this replica admitted through Redis too.
// wait is the retry-after of a fail_closed denial (0: the retry interval).
// mode is chargeFallback (merged at the next sync) or chargeHeld (the
// caller charges Redis).
func (r *Redis) backendDown(_ context.Context, now time.Time, res *Reservation, cause error, wait time.Duration, mode chargeMode) (*Reservation, error) {
	if wait <= 0 {
		wait = r.retry
	}
	reqs := make([]Request, len(res.items))
	for i := range res.items {
		it := &res.items[i]
		if it.lim.OnBackendDown != LocalShare {
			r.closed.Add(1)
			return nil, unavailable(it.lim.Key, wait, cause)
		}
		reqs[i] = Request{Limit: it.lim.scaled(), Tokens: int(it.tokens)}
	}
	if mode == chargeFallback {
		r.fallbacks.Add(1)
	}
	local, err := newReservation(now, reqs)
	if err != nil {
		return nil, err
	}
	if d := r.own.charge(local, now, mode); d != nil {
		return nil, d
	}
	local.owner = r
	if mode == chargeFallback {
		local.local = true
		r.markDirty()
	}
	return local, nil
}

// markDirty notes pending changes for the next sync.
func (r *Redis) markDirty() {
	r.dirty.Store(true)
	r.needSync.Store(true)
}

func (r *Redis) storeFailed(now time.Time, err error) {
	r.storeErrs.Add(1)
	r.recovering.Store(true)
	r.downUntil.Store(now.Add(r.retry).UnixMilli())
	if !r.down.Swap(true) {
		r.log.Warn("rate limit store unreachable; applying each limit's on_redis_down",
			"err", err, "retry_in", r.retry)
	}
}

func (r *Redis) storeUp() {
	if r.down.Load() && r.down.Swap(false) {
		r.log.Info("rate limit store reachable again")
	}
}

// epochValue is the store epoch this replica last synced with, "" before
// the first sync.
func (r *Redis) epochValue() string {
	if p := r.epoch.Load(); p != nil {
		return *p
	}
	return ""
}
