package sqlitestore_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/kql"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

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

	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var all []reqlog.Record
	write := func(n int) {
		t.Helper()
		var recs []reqlog.Record
		for range n {
			i := len(all)
			recs = append(recs, reqlog.Record{Time: base.Add(time.Duration(i) * time.Minute),
				RequestID: "r" + strconv.Itoa(i), Caller: "key-" + strconv.Itoa(i%7), Deployment: "d"})
			all = append(all, recs[len(recs)-1])
		}
		if err := st.WriteBatch(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	var cutoff time.Time // retention's: the rows before it are gone
	check := func(wantThrough int64) {
		t.Helper()
		got, through, err := st.CallerIndex(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if through != wantThrough {
			t.Errorf("through_id %d, want %d", through, wantThrough)
		}
		want, err := st.LogIndexEntries(ctx, through)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("caller index (-want +got):\n%s", diff)
		}
		// Whatever the index holds, a query by caller counts every row.
		for _, caller := range []string{"key-0", "key-3", "key-9"} {
			q, err := kql.Compile(`MoatGatewayLogs | where CallerId == "`+caller+`" and TimeGenerated >= datetime(2026-03-01 01:00) | count`,
				kql.SQLite, base.Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := st.DB().QueryRowContext(ctx, q.SQL, q.Args...).Scan(&n); err != nil {
				t.Fatalf("%v\n%s", err, q.SQL)
			}
			want := 0
			for _, r := range all {
				if r.Caller == caller && !r.Time.Before(base.Add(time.Hour)) && !r.Time.Before(cutoff) {
					want++
				}
			}
			if n != want {
				t.Errorf("%s: %d rows, want %d", caller, n, want)
			}
		}
	}

	write(60) // a process's first batch flushes the rollup: indexed
	check(60)
	write(30) // 30 past through_id: not yet
	check(60)
	write(80) // 110 past it: this batch indexes them
	check(170)
	write(10)
	check(170)
	if err := st.FlushRollup(ctx); err != nil {
		t.Fatal(err)
	}
	check(180)

	// Retention takes the rows' entries too.
	cutoff = base.Add(100 * time.Minute)
	if n, err := st.DeleteBefore(ctx, cutoff); err != nil || n != 100 {
		t.Fatalf("DeleteBefore: %d rows, %v", n, err)
	}
	check(180)
	if got, _, err := st.CallerIndex(ctx); err != nil || len(got) != 80 {
		t.Errorf("%d entries after retention, want 80 (%v)", len(got), err)
	}
}
