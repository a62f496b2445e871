package ratelimit

import (
	"context"
	"time"
)

// settle implements settler. A settle that cannot reach Redis (or skips it
// during an outage) is kept in the shadow and merged when Redis answers
// again, so it is never lost; the call does not wait for that.
func (r *Redis) settle(ctx context.Context, res *Reservation, now time.Time, actual int64, how change) error {
	if res.local {
		r.own.adjust(res, now, actual, how, true)
		r.markDirty()
		return nil
	}
	pend := r.down.Load()
	if !pend {
		keys, args := r.settleArgs(res, now, actual, how == cancel)
		n, err := r.scripts.run(ctx, r, settleScript, keys, args, time.Time{}).Int64()
		switch {
		case err != nil:
			r.storeErrs.Add(1)
			pend = true
		case n == 2:
			r.needSync.Store(true) // the re-seed carries the settled count
		}
	}
	r.own.adjust(res, now, actual, how, pend)
	if pend {
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
