package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// testConcurrent writes from several goroutines (as several moat replicas
// or a writer plus retention would) while others read, and checks that
// every record arrives once with a unique id.
func testConcurrent(t *testing.T, open Opener) {
	s := open(t)
	const writers, batches, perBatch = 4, 5, 40
	ctx := context.Background()

	var wg sync.WaitGroup
	errs := make(chan error, writers*batches+writers)
	for g := range writers {
		wg.Go(func() {
			for b := range batches {
				recs := Records(base().Add(time.Duration(g)*time.Hour), perBatch)
				for i := range recs {
					recs[i].RequestID = fmt.Sprintf("g%d-b%d-r%d", g, b, i)
				}
				if err := s.WriteBatch(ctx, recs); err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", g, b, err)
				}
			}
		})
	}
	for range writers {
		wg.Go(func() {
			for range batches {
				if _, err := s.After(ctx, -1, 50); err != nil {
					errs <- fmt.Errorf("reader: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	recs := all(t, s)
	if got, want := len(recs), writers*batches*perBatch; got != want {
		t.Fatalf("stored %d records, want %d", got, want)
	}
	seen := map[string]bool{}
	for i, r := range recs {
		if i > 0 && r.ID <= recs[i-1].ID {
			t.Fatalf("ids out of order: %d after %d", r.ID, recs[i-1].ID)
		}
		if seen[r.RequestID] {
			t.Fatalf("record %s stored twice", r.RequestID)
		}
		seen[r.RequestID] = true
	}
}

// BenchmarkWriteBatch measures WriteBatch of 256 typical records (no bodies,
// times one second apart and increasing) and reports rows/s.
func BenchmarkWriteBatch(b *testing.B, newStore Factory) {
	s := newStore(b)(b)
	recs := Records(time.Now().UTC(), reqlog.DefaultBatchSize)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		// Times move forward as in real traffic; rewriting the same times
		// would spread every batch over the whole time index.
		for i := range recs {
			recs[i].Time = recs[i].Time.Add(time.Duration(len(recs)) * time.Second)
		}
		if err := s.WriteBatch(ctx, recs); err != nil {
			b.Fatalf("WriteBatch: %v", err)
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "rows/s")
}
