package ratelimit

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// settle implements settler. A settle that skips Redis during an outage,
// or fails before it is sent, is kept in the shadow and merged when Redis
// answers again, so it is never lost; the call does not wait for that. One
// sent without an answer may still run when Redis thaws, so only an
// increase is kept for the merge: a refund merged too would be given back
// twice (recordIncrease).
func (r *Redis) settle(ctx context.Context, res *Reservation, now time.Time, actual int64, how change) error {
	if res.local {
		r.own.adjust(res, now, actual, how, recordAll)
		r.markDirty()
		return nil
	}
	rec := recordNone
	if r.down.Load() {
		rec = recordAll
	} else {
		keys, args := r.settleArgs(res, now, actual, how == cancel)
		n, err := r.scripts.run(ctx, r, settleScript, keys, args, time.Time{}).Int64()
		switch {
		case err != nil && neverSent(err):
			r.storeErrs.Add(1)
			rec = recordAll
		case err != nil:
			r.storeErrs.Add(1)
			rec = recordIncrease
		case n == 2:
			r.needSync.Store(true) // the re-seed carries the settled count
		}
	}
	r.own.adjust(res, now, actual, how, rec)
	if rec != recordNone {
		r.markDirty()
	}
	return nil
}

func (r *Redis) settleArgs(res *Reservation, now time.Time, actual int64, refund bool) ([]string, []any) {
	nowMs := now.UnixMilli()
	keys := make([]string, 0, 3*len(res.items)+1)
	args := make([]any, 0, 5+5*len(res.items))
	c := 0
	if refund {
		c = 1
	}
	args = append(args, nowMs, res.at.Unix(), len(res.items), c, r.epochValue())
	for i := range res.items {
		it := &res.items[i]
		keys = r.appendKeys(keys, it.lim, it.qStart)
		delta := actual - it.tokens
		if refund {
			delta = -it.tokens
		}
		qTTL := int64(0)
		if it.lim.Quota > 0 {
			qTTL = it.qEnd*1000 - nowMs + quotaGrace.Milliseconds()
		}
		args = append(args, delta, it.lim.TPM, it.lim.RPM, it.lim.Quota, qTTL)
	}
	return append(keys, r.prefix+"epoch"), args
}

// neverSent reports whether err is one that go-redis returns before a
// command leaves the process: no connection could be had or made.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed) ||
		(errors.As(err, &op) && op.Op == "dial")
}
