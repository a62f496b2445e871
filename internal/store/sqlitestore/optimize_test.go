package sqlitestore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// TestOptimizeMarksIndexes: after Optimize has statistics, the deployment
// index carries noskipscan (once), and queries still work.
func TestOptimizeMarksIndexes(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "moat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Optimize(ctx); err != nil { // empty: nothing to analyze or mark
		t.Fatal(err)
	}
	var recs []reqlog.Record
	for i := range 50 {
		recs = append(recs, reqlog.Record{Time: time.Unix(int64(1_700_000_000+i), 0), Caller: "c", Deployment: "d", RequestID: "r"})
	}
	if err := st.WriteBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if _, err := st.write.ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if err := st.Optimize(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := st.write.QueryContext(ctx, "SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'request_log' AND idx = 'request_log_deployment_time'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var idx, stat string
		if err := rows.Scan(&idx, &stat); err != nil {
			t.Fatal(err)
		}
		if strings.Count(stat, "noskipscan") != 1 {
			t.Errorf("%s: %q", idx, stat)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d marked indexes", n)
	}
}
