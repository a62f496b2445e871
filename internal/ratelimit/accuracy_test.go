package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// accuracyRun is a load on one shared TPM limit from several limiter
// instances (replicas), each hammered by several goroutines, on a fake clock
// that steps one second at a time for a few minutes. Demand is about ten
// times the limit. Every admitted call settles at once to 80–100 % of its
// estimate (5 % cancel), so refunds are reused within the window.
type accuracyRun struct {
	limit      int
	minutes    int
	goroutines int // per limiter
	attempts   int // per goroutine per second
}

// run returns the tokens finally charged per second of the run.
func (a accuracyRun) run(t *testing.T, limiters []Limiter) []int64 {
	t.Helper()
	ctx := context.Background()
	shared := &Limit{Key: "deployment:acc", TPM: a.limit}
	perSecond := make([]int64, a.minutes*60)
	var mu sync.Mutex
	for sec := range a.minutes * 60 {
		var wg sync.WaitGroup
		for li, l := range limiters {
			for g := range a.goroutines {
				wg.Go(func() {
					rnd := rand.New(rand.NewPCG(uint64(sec), uint64(li*1000+g)))
					own := &Limit{Key: fmt.Sprintf("key:%d-%d", li, g), TPM: 10 * a.limit}
					var sum int64
					for range a.attempts {
						now := t0.Add(time.Duration(sec)*time.Second + time.Duration(rnd.IntN(1000))*time.Millisecond)
						est := 20 + rnd.IntN(380)
						r, err := l.Reserve(ctx, now, []Request{{Limit: shared, Tokens: est}, {Limit: own, Tokens: est}})
						var d *Denial
						if errors.As(err, &d) {
							continue
						}
						if err != nil {
							t.Error(err)
							return
						}
						if rnd.IntN(20) == 0 {
							if err := r.Cancel(ctx, now); err != nil {
								t.Error(err)
							}
							continue
						}
						actual := est * (80 + rnd.IntN(21)) / 100
						if err := r.Settle(ctx, now, actual); err != nil {
							t.Error(err)
						}
						sum += int64(actual)
					}
					mu.Lock()
					perSecond[sec] += sum
					mu.Unlock()
				})
			}
		}
		wg.Wait()
	}
	return perSecond
}

// check asserts every clock-aligned minute is within [99 %, 100 %] of the
// limit and every 60 s span starting on a whole second within 100 %, and
// logs the figures.
func (a accuracyRun) check(t *testing.T, perSecond []int64) {
	t.Helper()
	for m := range a.minutes {
		var n int64
		for _, v := range perSecond[m*60 : m*60+60] {
			n += v
		}
		t.Logf("minute %d: admitted %d of %d tokens (%.2f%%)", m, n, a.limit, 100*float64(n)/float64(a.limit))
		if n > int64(a.limit) || n < int64(a.limit)*99/100 {
			t.Errorf("minute %d: admitted %d, want within [99%%, 100%%] of %d", m, n, a.limit)
		}
	}
	var span, peak int64
	for i, v := range perSecond {
		span += v
		if i >= 60 {
			span -= perSecond[i-60]
		}
		peak = max(peak, span)
	}
	t.Logf("busiest sliding 60 s: %d tokens (%.2f%%)", peak, 100*float64(peak)/float64(a.limit))
	if peak > int64(a.limit) {
		t.Errorf("a sliding 60 s span admitted %d, over the limit %d", peak, a.limit)
	}
}

func TestAccuracyLocal(t *testing.T) {
	a := accuracyRun{limit: 100_000, minutes: 3, goroutines: 8, attempts: 12}
	a.check(t, a.run(t, []Limiter{NewLocal()}))
}

// TestAccuracyRedisReplicas runs three Redis limiters, each with its own
// client and connection pool, against one store: the replicas of a fleet.
func TestAccuracyRedisReplicas(t *testing.T) {
	c := testRedisClient(t)
	prefix := testPrefix(t, c)
	var replicas []Limiter
	for range 3 {
		replicas = append(replicas, NewRedis(testRedisClient(t), RedisOptions{Prefix: prefix}))
	}
	a := accuracyRun{limit: 100_000, minutes: 3, goroutines: 4, attempts: 8}
	a.check(t, a.run(t, replicas))
}
