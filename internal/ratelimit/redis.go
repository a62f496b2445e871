package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// quotaGrace keeps a quota counter this long past its period, so calls
// admitted just before the period ended can still settle into it.
const quotaGrace = 10 * time.Minute

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
	// not add a timeout to every call (default 1 s).
	RetryInterval time.Duration
}

// Redis is the Limiter shared by every replica: counters live in Redis and
// two Lua scripts check and charge them atomically. When Redis cannot be
// reached it applies each limit's OnBackendDown.
type Redis struct {
	c        redis.Scripter
	prefix   string
	log      *slog.Logger
	retry    time.Duration
	fallback *Local

	downUntil atomic.Int64 // unix ms before which the store is skipped
	down      atomic.Bool
	storeErrs atomic.Uint64
	fallbacks atomic.Uint64
	closed    atomic.Uint64

	mu     sync.Mutex
	scaled map[*Limit]*Limit
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a limiter over c (a *redis.Client, *redis.ClusterClient
// or *redis.Ring). Give c short dial and read timeouts: they bound how long
// a call waits before the backend-down mode applies.
func NewRedis(c redis.Scripter, opts RedisOptions) *Redis {
	r := &Redis{c: c, prefix: opts.Prefix, log: opts.Logger, retry: opts.RetryInterval,
		fallback: NewLocal(), scaled: make(map[*Limit]*Limit)}
	if r.prefix == "" {
		r.prefix = "moat:rl:"
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.retry <= 0 {
		r.retry = time.Second
	}
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
}

// Stats returns a snapshot of the counters.
func (r *Redis) Stats() Stats {
	return Stats{StoreErrors: r.storeErrs.Load(), FallbackReserves: r.fallbacks.Load(),
		FailClosedDenials: r.closed.Load(), StoreDown: r.down.Load()}
}

// Reserve implements Limiter.
func (r *Redis) Reserve(ctx context.Context, now time.Time, reqs []Request) (*Reservation, error) {
	res, err := newReservation(now, reqs)
	if err != nil || len(res.items) == 0 {
		return res, err
	}
	if now.UnixMilli() < r.downUntil.Load() {
		return r.backendDown(ctx, now, res, errStoreSkipped)
	}
	keys, args := r.reserveArgs(res, now)
	reply, err := reserveScript.Run(ctx, r.c, keys, args...).Int64Slice()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("reserve rate limit: %w", ctx.Err())
		}
		r.storeFailed(now, err)
		return r.backendDown(ctx, now, res, err)
	}
	r.storeUp()
	return r.parseReserve(res, reply)
}

// errStoreSkipped is the cause of denials made while the store is skipped
// after a recent error.
var errStoreSkipped = errors.New("rate limit store unreachable recently; not retried yet")

func (r *Redis) reserveArgs(res *Reservation, now time.Time) ([]string, []any) {
	nowMs := now.UnixMilli()
	keys := make([]string, 0, 3*len(res.items))
	args := make([]any, 0, 2+6*len(res.items))
	args = append(args, nowMs, len(res.items))
	for i := range res.items {
		it := &res.items[i]
		keys = r.appendKeys(keys, it)
		qRetry, qTTL := int64(0), int64(0)
		if it.lim.Quota > 0 {
			qRetry = it.qEnd*1000 - nowMs
			qTTL = qRetry + quotaGrace.Milliseconds()
		}
		args = append(args, it.tokens, it.lim.TPM, it.lim.RPM, it.lim.Quota, qRetry, qTTL)
	}
	return keys, args
}

// appendKeys adds an item's token window, request window and quota keys.
// The quota key names its period and start, so a new period starts at zero
// and a changed period setting never reuses an old counter.
func (r *Redis) appendKeys(keys []string, it *item) []string {
	q := ""
	if it.lim.Quota > 0 {
		q = r.prefix + "q:" + it.lim.Key + ":" + string(it.lim.QuotaPeriod) + ":" + strconv.FormatInt(it.qStart, 10)
	} else {
		q = r.prefix + "q:" + it.lim.Key
	}
	return append(keys, r.prefix+"t:"+it.lim.Key, r.prefix+"r:"+it.lim.Key, q)
}

func (r *Redis) parseReserve(res *Reservation, v []int64) (*Reservation, error) {
	switch {
	case len(v) == 4 && v[0] == 0:
		res.RemainingTokens, res.RemainingRequests, res.RemainingQuota = int(v[1]), int(v[2]), v[3]
		res.owner = r
		return res, nil
	case len(v) == 7 && v[0] == 1 && v[1] >= 1 && int(v[1]) <= len(res.items):
		kinds := [...]DenialKind{1: DeniedTokens, 2: DeniedRequests, 3: DeniedQuota}
		if v[2] < 1 || v[2] > 3 {
			break
		}
		return nil, &Denial{Key: res.items[v[1]-1].lim.Key, Kind: kinds[v[2]],
			RetryAfter:      time.Duration(v[3]) * time.Millisecond,
			RemainingTokens: int(v[4]), RemainingRequests: int(v[5]), RemainingQuota: v[6]}
	}
	return nil, fmt.Errorf("reserve rate limit: unexpected script reply %v", v)
}

// backendDown applies the limits' OnBackendDown: one fail_closed limit in
// the call denies it; when all are local_share the in-process fallback
// decides with the scaled limits.
func (r *Redis) backendDown(ctx context.Context, now time.Time, res *Reservation, cause error) (*Reservation, error) {
	reqs := make([]Request, len(res.items))
	for i := range res.items {
		it := &res.items[i]
		if it.lim.OnBackendDown != LocalShare {
			r.closed.Add(1)
			return nil, &Denial{Key: it.lim.Key, Kind: DeniedUnavailable, RetryAfter: r.retry,
				RemainingTokens: -1, RemainingRequests: -1, RemainingQuota: -1, Err: cause}
		}
		reqs[i] = Request{Limit: r.scaledLimit(it.lim), Tokens: int(it.tokens)}
	}
	r.fallbacks.Add(1)
	return r.fallback.Reserve(ctx, now, reqs)
}

// scaledLimit returns lim with LocalShare applied, built once per limit.
func (r *Redis) scaledLimit(lim *Limit) *Limit {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.scaled[lim]
	if s == nil {
		s = lim.scaled()
		r.scaled[lim] = s
	}
	return s
}

func (r *Redis) storeFailed(now time.Time, err error) {
	r.storeErrs.Add(1)
	r.downUntil.Store(now.Add(r.retry).UnixMilli())
	if !r.down.Swap(true) {
		r.log.Warn("rate limit store unreachable; applying each limit's on_backend_down",
			"err", err, "retry_in", r.retry)
	}
}

func (r *Redis) storeUp() {
	if r.down.Load() && r.down.Swap(false) {
		r.log.Info("rate limit store reachable again")
	}
}

// settle implements settler. A failure leaves the estimate charged: the
// store is the truth and cannot be reached. Pass a context that outlives
// the client's (context.WithoutCancel) so a disconnect still settles.
func (r *Redis) settle(ctx context.Context, res *Reservation, now time.Time, actual int64, cancel bool) error {
	nowMs := now.UnixMilli()
	keys := make([]string, 0, 3*len(res.items))
	args := make([]any, 0, 4+5*len(res.items))
	c := 0
	if cancel {
		c = 1
	}
	args = append(args, nowMs, res.at.Unix(), len(res.items), c)
	for i := range res.items {
		it := &res.items[i]
		keys = r.appendKeys(keys, it)
		delta := actual - it.tokens
		if cancel {
			delta = -it.tokens
		}
		qTTL := int64(0)
		if it.lim.Quota > 0 {
			qTTL = it.qEnd*1000 - nowMs + quotaGrace.Milliseconds()
		}
		args = append(args, delta, it.lim.TPM, it.lim.RPM, it.lim.Quota, qTTL)
	}
	if err := settleScript.Run(ctx, r.c, keys, args...).Err(); err != nil {
		r.storeErrs.Add(1)
		return fmt.Errorf("settle rate limit: %w", err)
	}
	for i := range res.items {
		if cancel {
			res.items[i].tokens = 0
		} else {
			res.items[i].tokens = actual
		}
	}
	return nil
}
