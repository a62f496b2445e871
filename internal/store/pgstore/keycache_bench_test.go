package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/store/pgstore"
	"github.com/moat-gw/moat/internal/store/storetest"
)

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
			clock := storetest.NewStepClock(time.Unix(1000, 0), time.Millisecond)
			cache := auth.NewKeyCache(auth.KeyCacheOptions{Now: clock.Now})
			cache.SetLive(tc.live)
			v, err := auth.NewKeyVerifier(auth.KeyVerifierOptions{Stores: []auth.KeyStore{s}, Hasher: h, Cache: cache, Now: clock.Now})
			if err != nil {
				b.Fatal(err)
			}
			storetest.BenchmarkVerify(b, v, cache, plains, tc.keys)
		})
	}
}
