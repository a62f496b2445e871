package storetest

import (
	"context"
	"fmt"
	"sync"
	"syscall"
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
// times one second apart and increasing) and reports rows/s and the
// process's CPU time per row (cpu-ns/row), which a busy shared machine
// disturbs less than the elapsed time. The records have 21 callers and
// deployments and span one or two hours, so each batch updates about 60
// rollup buckets; one gateway's traffic updates a handful.
func BenchmarkWriteBatch(b *testing.B, newStore Factory) {
	s := newStore(b)(b)
	recs := Records(time.Now().UTC(), reqlog.DefaultBatchSize)
	ctx := context.Background()
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		// Times move forward as in real traffic; rewriting the same times
		// would spread every batch over the whole time index.
		for i := range recs {
			recs[i].Time = recs[i].Time.Add(time.Duration(len(recs)) * time.Second)
		}
		// A deadline, as reqlog's Writer gives every write: a driver may
		// spend something per statement on watching it.
		wctx, cancel := context.WithTimeout(ctx, reqlog.DefaultWriteTimeout)
		err := s.WriteBatch(wctx, recs)
		cancel()
		if err != nil {
			b.Fatalf("WriteBatch: %v", err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N*len(recs)), "cpu-ns/row")
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "rows/s")
}

// processCPU is the CPU time the process has used, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// testFollow has several writers (as several replicas would) write
// concurrently while a reqlog.Follower reads; every record must reach the
// follower exactly once. A plain "id > last" cursor, run alongside, shows
// what commit order does to it (logged, since it depends on timing).
func testFollow(t *testing.T, open Opener) {
	s := open(t)
	const writers, batches = 6, 30
	ctx := context.Background()
	f := reqlog.NewFollower(s)
	if _, err := f.Tail(ctx, 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches)
	want := 0
	for g := range writers {
		for b := range batches {
			want += 1 + (g*7+b*3)%25
		}
		wg.Go(func() {
			for b := range batches {
				recs := Records(base().Add(time.Duration(g)*time.Hour), 1+(g*7+b*3)%25)
				for i := range recs {
					recs[i].RequestID = fmt.Sprintf("g%d-b%d-r%d", g, b, i)
				}
				if err := s.WriteBatch(ctx, recs); err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", g, b, err)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	got := map[string]int{}
	naive, naiveLast := 0, int64(0)
	read := func() {
		recs, err := f.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			got[r.RequestID]++
		}
		page, err := s.After(ctx, naiveLast, 100000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			naive++
			naiveLast = r.ID
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			read()
		}
	}
	read() // what committed after the last poll
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	dups := 0
	for id, n := range got {
		if n > 1 {
			dups++
			t.Errorf("%s returned %d times", id, n)
		}
	}
	if len(got) != want || dups != 0 {
		t.Fatalf("follower returned %d distinct records (%d duplicated), want %d", len(got), dups, want)
	}
	t.Logf("follower: %d of %d records, none twice; a plain id cursor saw %d (%d skipped)", len(got), want, naive, want-naive)
}
