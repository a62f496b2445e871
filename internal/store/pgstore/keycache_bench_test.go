package pgstore_test

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/store/pgstore"
)

// stepClock advances by step on every reading: 1 ms per call models a
// replica serving 1,000 calls a second, at which each of 10,000 keys in
// rotation comes back every 10 s, past the 1 s TTL but within NotifyTTL.
type stepClock struct {
	ns   atomic.Int64
	step time.Duration
}

func (c *stepClock) Now() time.Time { return time.Unix(0, c.ns.Add(int64(c.step))) }

// BenchmarkVerifyStoredKeys measures one authentication with stored keys
// in PostgreSQL: one key called over and over, against 10,000 keys in
// rotation, with the change feed live (the cache trusts entries for
// NotifyTTL) and without it (1 s TTL: every call of an infrequent key is a
// lookup, which was the only mode before the feed). cpu-ns/op is the
// process's CPU time (user+system) per call; PostgreSQL's own is not in it.
func BenchmarkVerifyStoredKeys(b *testing.B) {
	dsn := testDSN(b)
	s := open(b, dsn, pgstore.Options{Schema: newSchema(b, dsn), DaysAhead: 1})
	ctx := context.Background()
	h := auth.NewHasher(nil)
	const n = 10000
	plains := make([]string, n)
	rows := make([][]any, n)
	for i := range n {
		p, k, err := h.GenerateKey()
		if err != nil {
			b.Fatal(err)
		}
		plains[i] = p
		rows[i] = []any{k.ID, k.Hash, time.Unix(0, 0).UTC()}
	}
	if _, err := s.Pool().CopyFrom(ctx, pgx.Identifier{"api_keys"}, []string{"id", "hash", "created_at"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		keys int
		live bool
	}{
		{"1-key-feed-live", 1, true},
		{"10000-keys-feed-live", n, true},
		{"1-key-no-feed", 1, false},
		{"10000-keys-no-feed", n, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			clock := &stepClock{step: time.Millisecond}
			clock.ns.Store(time.Unix(1000, 0).UnixNano())
			cache := auth.NewKeyCache(auth.KeyCacheOptions{Now: clock.Now})
			cache.SetLive(tc.live)
			v, err := auth.NewKeyVerifier(auth.KeyVerifierOptions{Stores: []auth.KeyStore{s}, Hasher: h, Cache: cache, Now: clock.Now})
			if err != nil {
				b.Fatal(err)
			}
			for i := range tc.keys { // steady state: every key seen once
				if _, err := v.Verify(ctx, plains[i]); err != nil {
					b.Fatal(err)
				}
			}
			before := cache.Stats()
			cpu0 := cpuTime()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, plains[i%tc.keys]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(i), "cpu-ns/op")
			hits := cache.Stats().Hits - before.Hits
			b.ReportMetric(float64(int64(i)-hits)/float64(i), "lookups/op")
		})
	}
}

// cpuTime is the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
