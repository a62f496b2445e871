package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/store/storetest"
)

// BenchmarkVerifyStoredKeys measures one authentication with stored keys
// in SQLite: one key called over and over, against 10,000 keys in
// rotation, with the change feed running (WatchChanges wired to the cache
// as the gateway wires it: entries are trusted for NotifyTTL) and without
// it (1 s TTL: every call of an infrequent key is a lookup, the only mode
// SQLite had before the feed). cpu-ns/op is the process's CPU time
// (user+system) per call, SQLite's included (it runs in process), and the
// feed's polling with it.
func BenchmarkVerifyStoredKeys(b *testing.B) {
	path := filepath.Join(b.TempDir(), "moat.db")
	s := open(b, path)
	ctx := context.Background()
	h := auth.NewHasher(nil)
	const n = 10000
	plains := make([]string, n)
	tx, err := rawDB(b, path).Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		p, k, err := h.GenerateKey()
		if err != nil {
			b.Fatal(err)
		}
		plains[i] = p
		if _, err := tx.Exec(`INSERT INTO api_keys (id, hash, created_at) VALUES (?, ?, 0)`, k.ID, k.Hash); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		keys int
		feed bool
	}{
		{"1-key-feed", 1, true},
		{"10000-keys-feed", n, true},
		{"1-key-no-feed", 1, false},
		{"10000-keys-no-feed", n, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			clock := storetest.NewStepClock(time.Unix(1000, 0), time.Millisecond)
			cache := auth.NewKeyCache(auth.KeyCacheOptions{Now: clock.Now})
			if tc.feed {
				fctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				live := make(chan struct{}, 1)
				go func() {
					defer close(done)
					s.WatchChanges(fctx, func(l bool) {
						cache.SetLive(l)
						if l {
							live <- struct{}{}
						}
					}, func(c auth.Change) {
						if c.Kind == auth.ChangeKey {
							cache.Invalidate(c.ID)
						} else {
							cache.InvalidateAll()
						}
					})
				}()
				b.Cleanup(func() { cancel(); <-done })
				<-live
			}
			v, err := auth.NewKeyVerifier(auth.KeyVerifierOptions{Stores: []auth.KeyStore{s}, Hasher: h, Cache: cache, Now: clock.Now})
			if err != nil {
				b.Fatal(err)
			}
			storetest.BenchmarkVerify(b, v, cache, plains, tc.keys)
		})
	}
}

// BenchmarkChangePoll is what the change feed costs when nothing changed,
// ChangePollInterval apart: the read from the last change seen, which
// finds that one row again, over a log of 10,000 changes.
func BenchmarkChangePoll(b *testing.B) {
	path := filepath.Join(b.TempDir(), "moat.db")
	s := open(b, path)
	raw := rawDB(b, path)
	exec(b, raw, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
INSERT INTO identity_changes (kind, id, at) SELECT 'key', 'k' || i, 0 FROM n`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if n, err := s.ChangesFrom(ctx, 10000); err != nil || n != 1 {
			b.Fatalf("poll: %d rows, %v", n, err)
		}
	}
}
