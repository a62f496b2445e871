package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
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
		n, err := r.settles.run(ctx, r, keys, args)
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

// settleBatcher coalesces the settles of concurrent calls: the first one
// in becomes the leader and sends every settle waiting, its own included,
// in one pipeline (one round trip, one pool checkout); the others wait for
// their answer. A lone call's settle is one script call as before, and a
// settle still returns only once Redis has answered, so the contract of
// Settle does not change.
type settleBatcher struct {
	mu      sync.Mutex
	queue   []*settleJob
	leading bool
	off     bool // every settle on its own (benchmarks compare)
}

type settleJob struct {
	keys []string
	args []any
	n    int64
	err  error
	done chan struct{}
}

func (b *settleBatcher) run(ctx context.Context, r *Redis, keys []string, args []any) (int64, error) {
	job := &settleJob{keys: keys, args: args, done: make(chan struct{})}
	if b.off {
		r.flushSettles(ctx, []*settleJob{job})
		return job.n, job.err
	}
	b.mu.Lock()
	b.queue = append(b.queue, job)
	if b.leading {
		b.mu.Unlock()
		<-job.done // the leader's flush is bounded by r.timeout
		return job.n, job.err
	}
	b.leading = true
	for len(b.queue) > 0 {
		batch := b.queue
		b.queue = nil
		b.mu.Unlock()
		r.flushSettles(context.WithoutCancel(ctx), batch)
		b.mu.Lock()
	}
	b.leading = false
	b.mu.Unlock()
	return job.n, job.err
}

// pipeliner is what a go-redis client offers to batch commands.
type pipeliner interface {
	Pipeline() redis.Pipeliner
}

// flushSettles runs a batch of settle scripts, in one pipeline when the
// client can, and answers every job.
func (r *Redis) flushSettles(ctx context.Context, batch []*settleJob) {
	tctx, stop := context.WithTimeout(ctx, r.timeout)
	defer stop()
	r.settleTrips.Add(1)
	p, ok := r.c.(pipeliner)
	if len(batch) == 1 || !ok {
		for _, j := range batch {
			j.n, j.err = settleScript.Run(tctx, r.c, j.keys, j.args...).Int64()
			close(j.done)
		}
		return
	}
	pipe := p.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, j := range batch {
		cmds[i] = settleScript.EvalSha(tctx, pipe, j.keys, j.args...)
	}
	_, _ = pipe.Exec(tctx) // each command carries its own error
	for i, j := range batch {
		j.n, j.err = cmds[i].Int64()
		if j.err != nil && redis.HasErrorPrefix(j.err, "NOSCRIPT") {
			// The script is not cached yet (a new or flushed Redis): Run loads it.
			j.n, j.err = settleScript.Run(tctx, r.c, j.keys, j.args...).Int64()
		}
		close(j.done)
	}
}
