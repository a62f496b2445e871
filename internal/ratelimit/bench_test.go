package ratelimit

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchLimits are the four scopes a typical call is charged to, with limits
// high enough that every call is admitted.
func benchLimits() []*Limit {
	return []*Limit{
		{Key: "key:bench", TPM: 1 << 40, RPM: 1 << 40},
		{Key: "principal:bench", TPM: 1 << 40, Quota: 1 << 60, QuotaPeriod: PeriodMonth},
		{Key: "deployment:bench", TPM: 1 << 40},
		{Key: "key:bench|deployment:bench", TPM: 1 << 40, RPM: 1 << 40},
	}
}

func benchReserveSettle(b *testing.B, l Limiter, scopes int) {
	ctx := context.Background()
	rq := reqs(500, benchLimits()[:scopes]...)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		r, err := l.Reserve(ctx, now, rq)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Settle(ctx, now, 420); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLocalReserveSettle(b *testing.B) {
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("scopes=%d", n), func(b *testing.B) { benchReserveSettle(b, NewLocal(), n) })
	}
}

// BenchmarkLocalReserveSettleParallel has every goroutine on the same four
// scopes: the contended case of one hot deployment.
func BenchmarkLocalReserveSettleParallel(b *testing.B) {
	ctx := context.Background()
	l := NewLocal()
	rq := reqs(500, benchLimits()...)
	var tick atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := t0.Add(time.Duration(tick.Add(1)) * time.Microsecond)
			r, err := l.Reserve(ctx, now, rq)
			if err != nil {
				b.Error(err)
				return
			}
			_ = r.Settle(ctx, now, 420)
		}
	})
}

func BenchmarkRedisReserveSettle(b *testing.B) {
	c := testRedisClient(b)
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("scopes=%d", n), func(b *testing.B) {
			benchReserveSettle(b, NewRedis(c, RedisOptions{Prefix: testPrefix(b, c)}), n)
		})
	}
}

// BenchmarkRedisReserveSettleParallel is many calls at once against one
// Redis, as a busy replica makes them: settles that meet share a round
// trip. It reports Redis round trips per call (one reserve each, plus the
// settle round trips) and the process's CPU per call.
func BenchmarkRedisReserveSettleParallel(b *testing.B) {
	c := testRedisClient(b)
	for _, tc := range []struct {
		n       int
		batched bool
	}{{1, true}, {1, false}, {4, true}, {4, false}} {
		n := tc.n
		b.Run(fmt.Sprintf("scopes=%d/batched=%v", n, tc.batched), func(b *testing.B) {
			ctx := context.Background()
			l := NewRedis(c, RedisOptions{Prefix: testPrefix(b, c)})
			l.scripts.off = !tc.batched
			rq := reqs(500, benchLimits()[:n]...)
			var tick atomic.Int64
			b.SetParallelism(16) // 32 goroutines on 2 CPUs
			b.ReportAllocs()
			start := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					now := t0.Add(time.Duration(tick.Add(1)) * time.Microsecond)
					r, err := l.Reserve(ctx, now, rq)
					if err != nil {
						b.Error(err)
						return
					}
					_ = r.Settle(ctx, now, 420)
				}
			})
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(l.Stats().RoundTrips)/float64(b.N), "round-trips/op")
		})
	}
}

// processCPU is the CPU time the process has used, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
