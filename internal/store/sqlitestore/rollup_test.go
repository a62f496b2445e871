package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
	"github.com/moat-gw/moat/internal/store/storetest"
)

// rollupCalls is the calls the hourly rollup table counts, read without a
// flush.
func rollupCalls(t *testing.T, s *sqlitestore.Store) int64 {
	t.Helper()
	var calls int64
	grain := int64(reqlog.Grains()[0] / time.Second)
	if err := s.DB().QueryRow("SELECT coalesce(sum(calls), 0) FROM "+reqlog.RollupTable+" WHERE grain = ?", grain).Scan(&calls); err != nil {
		t.Fatal(err)
	}
	return calls
}

// batches writes recs to s in batches of n, with distinct callers so that
// each record is a bucket of its own, as with many keys in rotation.
func batches(t *testing.T, s *sqlitestore.Store, recs []reqlog.Record, n int) {
	t.Helper()
	for i := 0; i < len(recs); i += n {
		if err := s.WriteBatch(context.Background(), recs[i:min(i+n, len(recs))]); err != nil {
			t.Fatalf("WriteBatch: %v", err)
		}
	}
}

func manyCallers(start time.Time, n int) []reqlog.Record {
	recs := storetest.Records(start, n)
	for i := range recs {
		recs[i].Caller = "key:" + string(rune('a'+i%26)) + string(rune('a'+i/26%26))
		recs[i].Time = start.Add(time.Duration(i) * 7 * time.Minute)
	}
	return recs
}

// TestRollupAfterCrash: records whose rollup was still in memory when the
// process died are counted, from the log, by the next process's first
// flush, once each.
func TestRollupAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "moat.db")
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	recs := manyCallers(start, 600)

	a, err := sqlitestore.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	batches(t, a, recs[:400], 50)
	// The first batch flushed (a process's first flush catches up); the
	// other seven are held in memory.
	if got := rollupCalls(t, a); got != 50 {
		t.Fatalf("the table counts %d calls before the crash, want the first batch's 50", got)
	}
	if err := a.Crash(); err != nil {
		t.Fatal(err)
	}

	b := open(t, path)
	storetest.CheckRollup(t, b, recs[:400])
	batches(t, b, recs[400:], 50) // and the next flushes add to it once
	storetest.CheckRollup(t, b, recs)
	b.Close()
	storetest.CheckRollup(t, open(t, path), recs)
}

// TestRollupTwoWriters: two stores on one file (two processes given the
// same sqlite_path), each holding the rollup of its own records, leave the
// table exact whichever flushes first.
func TestRollupTwoWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "moat.db")
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	recs := manyCallers(start, 800)
	a, b := open(t, path), open(t, path)
	for i := 0; i < 4; i++ {
		batches(t, a, recs[i*200:i*200+100], 25)
		batches(t, b, recs[i*200+100:i*200+200], 25)
		if i == 1 {
			if err := b.FlushRollup(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := a.FlushRollup(context.Background()); err != nil {
		t.Fatal(err)
	}
	storetest.CheckRollup(t, b, recs)
	storetest.CheckRollup(t, a, recs)
}

// TestRollupFlushedWithoutBatches: records that no batch follows reach the
// table within the flush interval, for readers in other processes.
func TestRollupFlushedWithoutBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "moat.db")
	s := open(t, path)
	s.SetRollupFlushEvery(50 * time.Millisecond)
	recs := manyCallers(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 90)
	batches(t, s, recs, 30)
	deadline := time.Now().Add(10 * time.Second)
	for rollupCalls(t, s) != 90 {
		if time.Now().After(deadline) {
			t.Fatalf("the table counts %d calls 10 s after the last batch, want 90", rollupCalls(t, s))
		}
		time.Sleep(10 * time.Millisecond)
	}
	storetest.CheckRollup(t, s, recs)
}

// TestRollupFlushDue: a batch written after the interval flushes what is
// held, in its own transaction.
func TestRollupFlushDue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "moat.db")
	s := open(t, path)
	recs := manyCallers(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 90)
	batches(t, s, recs[:60], 30)
	if got := rollupCalls(t, s); got != 30 {
		t.Fatalf("the table counts %d calls, want the first batch's 30", got)
	}
	s.SetRollupFlushEvery(0) // the timer set by the second batch still waits 10 s
	batches(t, s, recs[60:], 30)
	if got := rollupCalls(t, s); got != 90 {
		t.Fatalf("the table counts %d calls after a batch past the interval, want 90", got)
	}
}
