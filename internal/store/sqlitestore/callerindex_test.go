package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/kql"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

// callerIndexBase is the time of the first record the caller index tests
// write; record i is i minutes later.
var callerIndexBase = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// writeCallerRecords writes n records after the first from, one a minute,
// rotating over seven callers.
func writeCallerRecords(t *testing.T, st *sqlitestore.Store, from, n int) {
	t.Helper()
	var recs []reqlog.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, reqlog.Record{Time: callerIndexBase.Add(time.Duration(i) * time.Minute),
			RequestID: "r" + strconv.Itoa(i), Caller: "key-" + strconv.Itoa(i%7), Deployment: "d"})
	}
	if err := st.WriteBatch(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

// checkCallerIndex checks that the caller index holds exactly the log's rows
// up to its through_id, which is want, and that a KQL query by caller
// counts what SQL over the log alone counts.
func checkCallerIndex(t *testing.T, st *sqlitestore.Store, want int64) {
	t.Helper()
	ctx := context.Background()
	got, through, err := st.CallerIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if through != want {
		t.Errorf("through_id %d, want %d", through, want)
	}
	entries, err := st.LogIndexEntries(ctx, through)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(entries, got); diff != "" {
		t.Errorf("caller index (-log +index):\n%s", diff)
	}
	from := callerIndexBase.Add(time.Hour)
	for _, caller := range []string{"key-0", "key-3", "key-9"} {
		q, err := kql.Compile(`MoatGatewayLogs | where CallerId == "`+caller+`" and TimeGenerated >= datetime(2026-03-01 01:00) | count`,
			kql.SQLite, callerIndexBase.Add(30*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(q.SQL, reqlog.CallerIndexTable) {
			t.Fatalf("the query does not read the caller index:\n%s", q.SQL)
		}
		var n, oracle int
		if err := st.DB().QueryRowContext(ctx, q.SQL, q.Args...).Scan(&n); err != nil {
			t.Fatalf("%v\n%s", err, q.SQL)
		}
		if err := st.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+reqlog.SQLTable+" WHERE caller = ? AND time >= ?",
			caller, sqlitestore.EncodeTime(from)).Scan(&oracle); err != nil {
			t.Fatal(err)
		}
		if n != oracle {
			t.Errorf("%s: %d rows, want %d", caller, n, oracle)
		}
	}
}

// TestCallerIndex: the caller index takes the log's new rows at a rollup
// flush and at the batch that brings them to the threshold, not before;
// retention takes its entries with the rows; and a KQL query by caller
// counts the same rows whatever the index holds yet.
func TestCallerIndex(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "moat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetRollupFlushEvery(time.Hour) // no flush but the first and FlushRollup
	st.SetCallerIndexRows(100)

	writeCallerRecords(t, st, 0, 60) // a process's first batch flushes the rollup: indexed
	checkCallerIndex(t, st, 60)
	writeCallerRecords(t, st, 60, 30) // 30 past through_id: not yet
	checkCallerIndex(t, st, 60)
	writeCallerRecords(t, st, 90, 80) // 110 past it: this batch indexes them
	checkCallerIndex(t, st, 170)
	writeCallerRecords(t, st, 170, 10)
	checkCallerIndex(t, st, 170)
	if err := st.FlushRollup(ctx); err != nil {
		t.Fatal(err)
	}
	checkCallerIndex(t, st, 180)

	// Retention takes the rows' entries too.
	if n, err := st.DeleteBefore(ctx, callerIndexBase.Add(100*time.Minute)); err != nil || n != 100 {
		t.Fatalf("DeleteBefore: %d rows, %v", n, err)
	}
	checkCallerIndex(t, st, 180)
	if got, _, err := st.CallerIndex(ctx); err != nil || len(got) != 80 {
		t.Errorf("%d entries after retention, want 80 (%v)", len(got), err)
	}
}

// TestCallerIndexCatchUp: migration 14 indexes the log it finds; rows that
// a moat without the index wrote are indexed a step (four times the
// threshold) per batch, the query finding the rest in the log meanwhile.
func TestCallerIndexCatchUp(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "moat.db")
	st, err := sqlitestore.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeCallerRecords(t, st, 0, 50)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	raw := func(q string, args ...any) {
		t.Helper()
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Back to the schema before migration 14, which then runs on 50 rows.
	raw(undoCallerIndex + " DELETE FROM schema_migrations WHERE version = 14")
	if st, err = sqlitestore.Open(ctx, path, nil); err != nil {
		t.Fatal(err)
	}
	checkCallerIndex(t, st, 50)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// A moat without the index writes 1,000 rows.
	var b strings.Builder
	b.WriteString("INSERT INTO " + reqlog.SQLTable + " (time, request_id, caller) VALUES ")
	for i := 50; i < 1050; i++ {
		if i > 50 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%d, 'r%d', 'key-%d')", sqlitestore.EncodeTime(callerIndexBase.Add(time.Duration(i)*time.Minute)), i, i%7)
	}
	raw(b.String())

	if st, err = sqlitestore.Open(ctx, path, nil); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetRollupFlushEvery(time.Hour)
	st.SetCallerIndexRows(100) // a step of 400 rows
	checkCallerIndex(t, st, 50)
	writeCallerRecords(t, st, 1050, 10) // the first batch flushes: one step
	checkCallerIndex(t, st, 450)
	writeCallerRecords(t, st, 1060, 10) // the next batch takes another
	checkCallerIndex(t, st, 850)
	writeCallerRecords(t, st, 1070, 10) // and the rest
	checkCallerIndex(t, st, 1080)
	writeCallerRecords(t, st, 1080, 10) // caught up: back to the threshold
	checkCallerIndex(t, st, 1080)
}
