package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/proctest"
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
	if got := rollupCalls(t, b); got != 50 {
		t.Fatalf("the table counts %d calls after the crash, want the 50 flushed before it", got)
	}
	storetest.CheckRollup(t, b, recs[:400])
	batches(t, b, recs[400:], 50) // and the next flushes add to it once
	storetest.CheckRollup(t, b, recs)
	batches(t, b, manyCallers(start.Add(-time.Hour), 30), 30)
	if err := b.Close(); err != nil { // Close adds what it holds
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var calls int64
	if err := raw.QueryRow("SELECT sum(calls) FROM "+reqlog.RollupTable+" WHERE grain = ?", int64(reqlog.GrainHour/time.Second)).Scan(&calls); err != nil {
		t.Fatal(err)
	}
	if calls != 630 {
		t.Fatalf("the table counts %d calls after Close, want 630", calls)
	}
}

// TestRollupOlderWriter: an older moat writing the same file (during an
// upgrade, a moat serve not yet restarted while a newer moat command has
// migrated the file) counts its own batches into the rollup and leaves
// through_id alone; the newer store's next flush recounts the buckets of
// the rows past through_id rather than count them twice.
func TestRollupOlderWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "moat.db")
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	recs := manyCallers(start, 300)
	s, old := open(t, path), open(t, path)
	batches(t, s, recs[:100], 50) // the first flush sets through_id
	if err := old.WriteBatchCounted(context.Background(), recs[100:200]); err != nil {
		t.Fatal(err)
	}
	batches(t, s, recs[200:], 50)
	storetest.CheckRollup(t, s, recs)
}

// TestRollupFlushRetried: a timer flush that fails (another process holds
// the write lock past the busy timeout) is retried, so the table catches
// up without another batch.
func TestRollupFlushRetried(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out SQLite's 5 s busy timeout; skipped with -short")
	}
	path := filepath.Join(t.TempDir(), "moat.db")
	s := open(t, path)
	s.SetRollupFlushEvery(100 * time.Millisecond)
	recs := manyCallers(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 60)
	batches(t, s, recs[:30], 30)
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	lock, err := raw.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	batches(t, s, recs[30:], 30) // held, the timer set
	if _, err := lock.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5500 * time.Millisecond) // the timer's flush gives up after 5 s
	if _, err := lock.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for rollupCalls(t, s) != 60 {
		if time.Now().After(deadline) {
			t.Fatalf("the table counts %d calls 15 s after the lock went, want 60", rollupCalls(t, s))
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	s.SetRollupFlushEvery(0) // the timer the second batch set still waits 30 s
	batches(t, s, recs[60:], 30)
	if got := rollupCalls(t, s); got != 90 {
		t.Fatalf("the table counts %d calls after a batch past the interval, want 90", got)
	}
}

// TestRollupAfterKill: a `moat serve` killed (SIGKILL) with the rollup of
// its newest records in memory leaves them in the log only; the next start
// counts them into the rollup at its first write, once.
func TestRollupAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes; skipped with -short")
	}
	dir := t.TempDir()
	addr, mgmt := proctest.FreeAddr(t), proctest.FreeAddr(t)
	cfg := fmt.Sprintf(`data_dir: %s
listeners: [{name: data, address: '%s', kind: private_endpoint}]
management: {listeners: [{name: mgmt, address: '%s', kind: private_endpoint}]}
auth: {disabled: true}
simulator: {time_to_first_token: 1ms, tokens_per_second: 0}
log: {store: sqlite, flush_interval: 20ms}
upstreams: [{name: sim, type: simulator}]
deployments:
  - {name: gpt-4o-mini, upstreams: [{upstream: sim}]}
`, dir, addr, mgmt)
	url := "http://" + addr + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
	call := func(n int) {
		t.Helper()
		for range n {
			resp, err := http.Post(url, "application/json", strings.NewReader(`{"messages":[{"role":"user","content":"hi"}],"max_tokens":3}`))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("call: status %d", resp.StatusCode)
			}
		}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "moat.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// counts returns the log's rows and the calls each grain of the
	// rollup counts.
	counts := func() (rows int64, grains []int64) {
		t.Helper()
		if err := db.QueryRow("SELECT count(*) FROM " + reqlog.SQLTable).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		for _, g := range reqlog.Grains() {
			var calls int64
			if err := db.QueryRow("SELECT coalesce(sum(calls), 0) FROM "+reqlog.RollupTable+" WHERE grain = ?", int64(g/time.Second)).Scan(&calls); err != nil {
				t.Fatal(err)
			}
			grains = append(grains, calls)
		}
		return rows, grains
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				rows, grains := counts()
				t.Fatalf("%s: %d rows in the log, the rollup's grains count %v", what, rows, grains)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	p := proctest.StartMoat(t, proctest.MoatConfig{YAML: cfg, Mgmt: mgmt, Dir: dir})
	call(10)
	waitFor("first batches", func() bool { rows, _ := counts(); return rows == 10 })
	call(30)
	waitFor("later batches", func() bool { rows, _ := counts(); return rows == 40 })
	if _, grains := counts(); grains[0] >= 40 {
		t.Fatalf("the rollup counts %d of 40 calls before the kill: nothing was held in memory, the test cannot tell", grains[0])
	}
	p.Kill()
	_ = p.Wait()

	proctest.StartMoat(t, proctest.MoatConfig{YAML: cfg, Mgmt: mgmt, Dir: dir})
	call(1)
	waitFor("after the restart", func() bool {
		rows, grains := counts()
		return rows == 41 && grains[0] == 41 && grains[1] == 41
	})
}
