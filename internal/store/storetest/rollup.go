package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/reqlog"
)

// sqlStore is what the rollup contract needs beyond reqlog.Store: read
// access to the tables.
type sqlStore interface {
	reqlog.Store
	DB() *sql.DB
}

// testRollup checks that WriteBatch keeps reqlog.RollupTable equal to
// reqlog.Rollup of every record written, across batches that add to the
// same buckets, and that DeleteBefore on a day boundary removes the buckets
// of the removed days and no others.
func testRollup(t *testing.T, open Opener) {
	s, ok := open(t).(sqlStore)
	if !ok {
		t.Fatal("store has no DB method; the rollup contract reads its tables")
	}
	// 300 records 17 minutes apart (three and a half days), in batches of
	// 41, so hours and days span batches; a few errors and odd values.
	recs := Records(base(), 300)
	for i := range recs {
		r := &recs[i]
		r.Time = base().Add(time.Duration(i)*17*time.Minute + time.Duration(i%7)*time.Microsecond)
		if i%11 == 0 {
			r.Status, r.UpstreamStatus, r.ErrorKind = 429, 429, "UpstreamRateLimit"
		}
		if i%13 == 0 {
			r.TotalMs = math.NaN() // stored as 0
		}
		r.TotalMs += float64(i%5) / 8
	}
	for start := 0; start < len(recs); start += 41 {
		write(t, s, recs[start:min(start+41, len(recs))])
	}
	if diff := cmp.Diff(normalizeRollup(reqlog.Rollup(recs)), readRollup(t, s)); diff != "" {
		t.Fatalf("rollup after writes (-want +got):\n%s", diff)
	}

	cutoff := base().Add(2 * 24 * time.Hour)
	if _, err := s.DeleteBefore(context.Background(), cutoff); err != nil {
		t.Fatalf("DeleteBefore: %v", err)
	}
	var kept []reqlog.Record
	for _, r := range recs {
		if !r.Time.Before(cutoff) {
			kept = append(kept, r)
		}
	}
	if diff := cmp.Diff(normalizeRollup(reqlog.Rollup(kept)), readRollup(t, s)); diff != "" {
		t.Fatalf("rollup after DeleteBefore(%s) (-want +got):\n%s", cutoff.Format(time.RFC3339), diff)
	}
}

// CheckRollup fails t unless s's rollup table, after a flush of what a
// reqlog.RollupFlusher holds in memory, is the rollup of recs.
func CheckRollup(t *testing.T, s reqlog.Store, recs []reqlog.Record) {
	t.Helper()
	ss, ok := s.(sqlStore)
	if !ok {
		t.Fatal("store has no DB method; the rollup check reads its tables")
	}
	if diff := cmp.Diff(normalizeRollup(reqlog.Rollup(recs)), readRollup(t, ss)); diff != "" {
		t.Fatalf("rollup (-want +got):\n%s", diff)
	}
}

// readRollup returns the rollup table's rows, normalized, after a flush of
// what a reqlog.RollupFlusher holds in memory.
func readRollup(t *testing.T, s sqlStore) [][]any {
	t.Helper()
	if f, ok := s.(reqlog.RollupFlusher); ok {
		if err := f.FlushRollup(context.Background()); err != nil {
			t.Fatalf("FlushRollup: %v", err)
		}
	}
	db := s.DB()
	cols := reqlog.RollupColumns()
	rows, err := db.QueryContext(context.Background(), "SELECT "+strings.Join(cols, ", ")+" FROM "+reqlog.RollupTable)
	if err != nil {
		t.Fatalf("read rollup: %v", err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("read rollup: %v", err)
		}
		out = append(out, normalizeRow(vals))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read rollup: %v", err)
	}
	sortRows(out)
	return out
}

func normalizeRollup(rows []reqlog.RollupRow) [][]any {
	var out [][]any
	for i := range rows {
		out = append(out, normalizeRow(rows[i].Values()))
	}
	sortRows(out)
	return out
}

// normalizeRow maps the stores' encodings to one: times to unix
// microseconds, bools to 0/1, integers to int64, reals rounded to 1e-6
// (sums of reals differ in their last bits with the order of addition).
func normalizeRow(v []any) []any {
	out := make([]any, len(v))
	for i, x := range v {
		switch x := x.(type) {
		case time.Time:
			out[i] = x.UnixMicro()
		case bool:
			out[i] = int64(0)
			if x {
				out[i] = int64(1)
			}
		case int32:
			out[i] = int64(x)
		case float64:
			out[i] = math.Round(x*1e6) / 1e6
		case []byte:
			out[i] = string(x)
		default:
			out[i] = x
		}
	}
	// Integer measures may come back as float64 from one side only when a
	// store uses REAL for them; compare them as reals.
	for i, x := range out {
		if n, ok := x.(int64); ok && i >= 2+len(reqlog.RollupDims()) {
			out[i] = float64(n)
		}
	}
	return out
}

func sortRows(rows [][]any) {
	slices.SortFunc(rows, func(a, b []any) int {
		return strings.Compare(rowKey(a), rowKey(b))
	})
}

func rowKey(r []any) string {
	var sb strings.Builder
	for _, x := range r[:2+len(reqlog.RollupDims())] {
		fmt.Fprint(&sb, x)
		sb.WriteByte(0)
	}
	return sb.String()
}

// RollupBackfill checks the migration that creates the rollup: records
// written before it existed are rolled up when it runs. forget undoes the
// migration on the store's location (drops the table, removes its
// schema_migrations row) with the store closed; open then migrates again.
func RollupBackfill(t *testing.T, open Opener, forget func(t *testing.T)) {
	s := open(t)
	recs := Records(base(), 200)
	for i := range recs {
		recs[i].Time = base().Add(time.Duration(i)*23*time.Minute + 3*time.Microsecond)
		recs[i].TotalMs += float64(i%3) / 4
	}
	write(t, s, recs)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	forget(t)
	s2, ok := open(t).(sqlStore)
	if !ok {
		t.Fatal("store has no DB method")
	}
	if diff := cmp.Diff(normalizeRollup(reqlog.Rollup(recs)), readRollup(t, s2)); diff != "" {
		t.Fatalf("rollup filled by the migration (-want +got):\n%s", diff)
	}
}
