package ratelimit

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestScriptBatchHandOff queues reserves behind a batch in flight, then
// ends that batch the way its leader does: the oldest queued call must take
// the lead and send every queued reserve in one round trip, and each call
// must get its own answer (the windows count every one exactly).
func TestScriptBatchHandOff(t *testing.T) {
	c := testRedisClient(t)
	ctx := context.Background()
	l := NewRedis(c, RedisOptions{Prefix: testPrefix(t, c)})
	lim := &Limit{Key: "key:handoff", TPM: 1 << 30, RPM: 1 << 30}
	// A first call syncs the epoch, so that the queued ones are plain reserves.
	first, err := l.Reserve(ctx, t0, reqs(1, lim))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Settle(ctx, t0, 1); err != nil {
		t.Fatal(err)
	}

	for _, n := range []int{1, 2, 17} {
		b := &l.scripts
		b.mu.Lock()
		b.leading = true // a batch is in flight
		b.mu.Unlock()
		before := l.Stats().RoundTrips

		var wg sync.WaitGroup
		got := make([]*Reservation, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { got[i], errs[i] = l.Reserve(ctx, t0, reqs(10+i, lim)) })
		}
		for deadline := time.Now().Add(10 * time.Second); ; {
			b.mu.Lock()
			queued := len(b.queue)
			b.mu.Unlock()
			if queued == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("n=%d: %d calls queued, want %d", n, queued, n)
			}
			time.Sleep(time.Millisecond)
		}
		// The leader of the batch in flight is done: the same tail as run's.
		b.mu.Lock()
		next := b.queue[0]
		next.lead = true
		next.wake <- struct{}{}
		b.mu.Unlock()
		wg.Wait()

		if trips := l.Stats().RoundTrips - before; trips != 1 {
			t.Errorf("n=%d: %d round trips, want 1", n, trips)
		}
		want := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("n=%d: call %d: %v", n, i, errs[i])
			}
			want += 10 + i
			if err := got[i].Settle(ctx, t0, 10+i); err != nil {
				t.Fatal(err)
			}
		}
		b.mu.Lock()
		leading, queued := b.leading, len(b.queue)
		b.mu.Unlock()
		if leading || queued != 0 {
			t.Errorf("n=%d: after the batch leading=%v queued=%d, want false 0", n, leading, queued)
		}
		// Every reserve was counted once, with its own tokens.
		res, err := l.Reserve(ctx, t0, reqs(0, lim))
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Settle(ctx, t0, 0)
		if used := (1 << 30) - res.RemainingTokens; used != 1+want {
			t.Errorf("n=%d: window holds %d tokens, want %d", n, used, 1+want)
		}
		// Reset the window for the next case.
		l = NewRedis(c, RedisOptions{Prefix: testPrefix(t, c)})
		if first, err = l.Reserve(ctx, t0, reqs(1, lim)); err != nil {
			t.Fatal(err)
		}
		_ = first.Settle(ctx, t0, 1)
	}
}
