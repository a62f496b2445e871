package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// scriptBatcher coalesces the script calls of concurrent calls, reserves
// and settles alike: the first one in becomes the leader and sends every
// call waiting, its own included, in one pipeline (one round trip, one pool
// checkout); the others wait for their answer. When the leader is done and
// more calls have queued meanwhile, it hands the lead to the oldest of
// them, so no call sends more than one batch: a call waits at most for the
// batch in flight and then its own, and a reserve's deadline bounds both
// (see run). A lone call is one script call as before, and every call
// still returns only once Redis has answered or its time is up, so neither
// Reserve's nor Settle's contract changes.
type scriptBatcher struct {
	mu      sync.Mutex
	queue   []*scriptJob
	leading bool
	off     bool // every call on its own (benchmarks compare)
}

type scriptJob struct {
	script   *redis.Script
	keys     []string
	args     []any
	deadline time.Time // the caller's, or zero: the batch's round trip ends by the earliest
	cmd      *redis.Cmd
	// wake is signalled when the job is answered, or when it is handed the
	// lead (lead is then set); buffered, so the signaller never blocks.
	wake chan struct{}
	lead bool
}

// run runs script through the batcher and returns its command, answered.
// A job with a deadline (a reserve's: its call waits on it) bounds the
// round trip of the batch it goes in, so a call waits at most until its
// own deadline even when it waited for a batch in flight first; a job
// without one (a settle, which must not be lost to a client gone) gets
// the limiter's timeout.
func (b *scriptBatcher) run(ctx context.Context, r *Redis, script *redis.Script, keys []string, args []any, deadline time.Time) *redis.Cmd {
	job := &scriptJob{script: script, keys: keys, args: args, deadline: deadline, wake: make(chan struct{}, 1)}
	if b.off {
		r.flushScripts(ctx, []*scriptJob{job})
		return job.cmd
	}
	b.mu.Lock()
	b.queue = append(b.queue, job)
	if b.leading {
		b.mu.Unlock()
		<-job.wake // the batch in flight is bounded by r.timeout
		if !job.lead {
			return job.cmd
		}
		b.mu.Lock()
	}
	b.leading = true
	batch := b.queue
	b.queue = nil
	b.mu.Unlock()
	r.flushScripts(context.WithoutCancel(ctx), batch)
	b.mu.Lock()
	if len(b.queue) > 0 {
		next := b.queue[0]
		next.lead = true
		next.wake <- struct{}{}
	} else {
		b.leading = false
	}
	b.mu.Unlock()
	return job.cmd
}

// pipeliner is what a go-redis client offers to batch commands.
type pipeliner interface {
	Pipeline() redis.Pipeliner
}

// flushScripts runs a batch of script calls, in one pipeline when the
// client can, and answers every job.
func (r *Redis) flushScripts(ctx context.Context, batch []*scriptJob) {
	end := time.Now().Add(r.timeout)
	for _, j := range batch {
		if !j.deadline.IsZero() && j.deadline.Before(end) {
			end = j.deadline
		}
	}
	tctx, stop := context.WithDeadline(ctx, end)
	defer stop()
	r.roundTrips.Add(1)
	p, ok := r.c.(pipeliner)
	if len(batch) == 1 || !ok {
		for _, j := range batch {
			j.cmd = j.script.Run(tctx, r.c, j.keys, j.args...)
			j.wake <- struct{}{}
		}
		return
	}
	pipe := p.Pipeline()
	for _, j := range batch {
		j.cmd = j.script.EvalSha(tctx, pipe, j.keys, j.args...)
	}
	_, _ = pipe.Exec(tctx) // each command carries its own error
	for _, j := range batch {
		if err := j.cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// The script is not cached yet (a new or flushed Redis): Run loads it.
			j.cmd = j.script.Run(tctx, r.c, j.keys, j.args...)
		}
		j.wake <- struct{}{}
	}
}
