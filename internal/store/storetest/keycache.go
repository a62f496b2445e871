package storetest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/auth"
)

// StepClock advances by its step on every reading: 1 ms per call models a
// replica serving 1,000 calls a second, at which each of 10,000 keys in
// rotation comes back every 10 s, past the 1 s TTL but within NotifyTTL.
type StepClock struct {
	ns   atomic.Int64
	step time.Duration
}

// NewStepClock starts at start and advances by step on every reading.
func NewStepClock(start time.Time, step time.Duration) *StepClock {
	c := &StepClock{step: step}
	c.ns.Store(start.UnixNano())
	return c
}

// Now reads the clock, advancing it.
func (c *StepClock) Now() time.Time { return time.Unix(0, c.ns.Add(int64(c.step))) }

// BenchmarkVerify measures one authentication with v, whose cache is
// cache, calling the first keys of plains in rotation after every one of
// them has been verified once (the steady state of a running gateway). It
// reports the process's CPU per call (cpu-ns/op; the database server's own
// is not in it) and the share of calls that looked the key up in the store
// (lookups/op).
func BenchmarkVerify(b *testing.B, v *auth.KeyVerifier, cache *auth.KeyCache, plains []string, keys int) {
	ctx := context.Background()
	for i := range keys {
		if _, err := v.Verify(ctx, plains[i]); err != nil {
			b.Fatal(err)
		}
	}
	before := cache.Stats()
	cpu0 := processCPU()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, plains[i%keys]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(i), "cpu-ns/op")
	hits := cache.Stats().Hits - before.Hits
	b.ReportMetric(float64(int64(i)-hits)/float64(i), "lookups/op")
}
