package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/reqlog"
)

// testIdempotent checks that WriteBatch skips records already stored, as
// the request log's spool needs to replay batches the store may have
// committed: by (time, request ID), leaving the rollup as if each record
// had been written once. Records without a request ID have no identity and
// are all kept.
func testIdempotent(t *testing.T, open Opener) {
	s, ok := open(t).(sqlStore)
	if !ok {
		t.Fatal("store has no DB method; the idempotency contract reads the rollup")
	}
	t0 := base().Add(90 * time.Minute)
	recs := Records(t0, 40)
	for i := range recs {
		recs[i].Time = recs[i].Time.Add(time.Duration(i) * 7 * time.Minute) // several hours
		if i%9 == 0 {
			recs[i].Time = recs[i].Time.Add(123 * time.Nanosecond) // stored to the microsecond
		}
	}
	unkeyed := []reqlog.Record{{Time: t0, Caller: "no-id"}, {Time: t0, Caller: "no-id"}}
	more := Records(t0.Add(-time.Hour), 10)
	for i := range more {
		more[i].RequestID = "more-" + more[i].RequestID
	}
	// long spans several of the multi-row statements a store may cut a
	// batch into (SQLite: 64 rows), so duplicates fall in the same chunk,
	// across chunks and on their boundaries.
	long := Records(t0.Add(-3*time.Hour), 200)
	for i := range long {
		long[i].RequestID = "long-" + long[i].RequestID
		long[i].Caller = fmt.Sprintf("key-%d", i%3)
	}
	cat := func(parts ...[]reqlog.Record) []reqlog.Record {
		var out []reqlog.Record
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	steps := []struct {
		name  string
		batch []reqlog.Record
	}{
		{"first write", recs[:30]},
		{"the same batch again", recs[:30]},
		{"a batch half replayed", recs[20:]},
		{"a record twice in one batch", append(append([]reqlog.Record{}, more...), more[3], recs[5])},
		{"records without a request ID", unkeyed},
		{"a long batch with replays in and across its chunks", cat(long[:70], long[63:65], long[30:66], long[127:128], long[70:130], long[128:129])},
		{"a long batch, stored then new across chunk boundaries", cat(long[66:130], long[130:], long[190:])},
		{"all of it again", cat(recs, more, long, unkeyed[:1])},
	}
	for _, st := range steps {
		write(t, s, st.batch)
	}
	// Every keyed record once; each unkeyed record as often as written.
	want := cat(recs, more, long, unkeyed, unkeyed[:1])
	got := all(t, s)
	count := func(recs []reqlog.Record) map[string]int {
		m := map[string]int{}
		for _, r := range recs {
			m[r.RequestID+"|"+r.Caller]++
		}
		return m
	}
	if diff := cmp.Diff(count(want), count(got)); diff != "" {
		t.Fatalf("records stored after replays (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(normalizeRollup(reqlog.Rollup(want)), readRollup(t, s)); diff != "" {
		t.Fatalf("rollup after replays (-want +got):\n%s", diff)
	}
}

// DedupeMigration checks the migration that makes WriteBatch idempotent on
// a store that retries of the old writer left duplicates in: it keeps one
// row per (time, request ID) and recounts the rollup. forget undoes the
// migration on the store's location with the store closed (drops index
// request_log_request_id, removes its schema_migrations row) and then runs
// dup, which stores every row a second time and doubles the rollup's
// counts, as a retry of every batch would have; open then migrates again.
func DedupeMigration(t *testing.T, open Opener, forget func(t *testing.T, dup string)) {
	s := open(t)
	recs := Records(base(), 120)
	for i := range recs {
		recs[i].Time = base().Add(time.Duration(i)*31*time.Minute + 5*time.Microsecond)
	}
	write(t, s, recs)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var cols []string
	for _, c := range reqlog.Columns() {
		cols = append(cols, c.SQL)
	}
	list := strings.Join(cols, ", ")
	forget(t, "INSERT INTO "+reqlog.SQLTable+" ("+list+") SELECT "+list+" FROM "+reqlog.SQLTable+";\n"+
		"UPDATE "+reqlog.RollupTable+" SET calls = calls * 2;")
	s2, ok := open(t).(sqlStore)
	if !ok {
		t.Fatal("store has no DB method")
	}
	if got := all(t, s2); len(got) != len(recs) {
		t.Fatalf("%d records after the migration, want %d", len(got), len(recs))
	}
	if diff := cmp.Diff(normalizeRollup(reqlog.Rollup(recs)), readRollup(t, s2)); diff != "" {
		t.Fatalf("rollup recounted by the migration (-want +got):\n%s", diff)
	}
	write(t, s2, recs[:10]) // and idempotent from now on
	if got := all(t, s2); len(got) != len(recs) {
		t.Fatalf("%d records after a replay, want %d", len(got), len(recs))
	}
}
