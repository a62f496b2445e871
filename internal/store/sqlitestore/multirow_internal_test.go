package sqlitestore

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/reqlog"
)

func TestChunks(t *testing.T) {
	tests := []struct {
		name   string
		n, max int
		want   []int
	}{
		{"none", 0, 64, nil},
		{"one", 1, 64, []int{1}},
		{"under a chunk", 63, 64, []int{32, 16, 8, 4, 2, 1}},
		{"one chunk", 64, 64, []int{64}},
		{"a chunk and one", 65, 64, []int{64, 1}},
		{"a full batch", 256, 64, []int{64, 64, 64, 64}},
		{"a batch and a rest", 200, 64, []int{64, 64, 64, 8}},
		{"chunks of one", 3, 1, []int{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, chunks(tt.n, tt.max)); diff != "" {
				t.Errorf("chunks(%d, %d) (-want +got):\n%s", tt.n, tt.max, diff)
			}
		})
	}
}

// FuzzChunks checks that chunks covers n rows exactly, with sizes that
// have a prepared statement, largest first.
func FuzzChunks(f *testing.F) {
	for _, n := range []int{0, 1, 63, 64, 65, 255, 256, 1000} {
		f.Add(n, uint8(6))
	}
	f.Fuzz(func(t *testing.T, n int, shift uint8) {
		if n < 0 || n > 1<<20 || shift > 10 {
			return
		}
		max := 1 << shift
		got := chunks(n, max)
		sum := 0
		for i, c := range got {
			if c <= 0 || c > max || c&(c-1) != 0 {
				t.Fatalf("chunks(%d, %d) = %v: %d is not a power of two up to %d", n, max, got, c, max)
			}
			if i > 0 && c > got[i-1] {
				t.Fatalf("chunks(%d, %d) = %v: not largest first", n, max, got)
			}
			if c < max && i > 0 && c == got[i-1] {
				t.Fatalf("chunks(%d, %d) = %v: %d twice below %d", n, max, got, c, max)
			}
			sum += c
		}
		if sum != n {
			t.Fatalf("chunks(%d, %d) = %v covers %d rows", n, max, got, sum)
		}
	})
}

func TestValuesList(t *testing.T) {
	tests := []struct {
		rows, cols int
		want       string
	}{
		{1, 1, "(?)"},
		{1, 3, "(?, ?, ?)"},
		{3, 2, "(?, ?), (?, ?), (?, ?)"},
	}
	for _, tt := range tests {
		if got := valuesList(tt.rows, tt.cols); got != tt.want {
			t.Errorf("valuesList(%d, %d) = %q, want %q", tt.rows, tt.cols, got, tt.want)
		}
	}
}

// TestStatementSizes checks that the largest statements stay under
// SQLite's variable limit and bind one variable per column.
func TestStatementSizes(t *testing.T) {
	const sqliteMaxVariables = 32766
	insert, _ := requestLogSQL()
	for _, tt := range []struct {
		name       string
		sql        string
		rows, cols int
	}{
		{"request log insert", insert(insertChunk), insertChunk, len(reqlog.Columns())},
		{"rollup upsert", rollupUpsertSQL(rollupChunk), rollupChunk, len(reqlog.RollupColumns())},
	} {
		if got, want := strings.Count(tt.sql, "?"), tt.rows*tt.cols; got != want {
			t.Errorf("%s binds %d variables, want %d", tt.name, got, want)
		}
		if n := tt.rows * tt.cols; n > sqliteMaxVariables {
			t.Errorf("%s binds %d variables, over SQLite's %d", tt.name, n, sqliteMaxVariables)
		}
	}
}

// TestAppendValues keeps appendValues in step with Record.Values: the same
// columns in the same order, encoded for SQLite.
func TestAppendValues(t *testing.T) {
	r := reqlog.Record{Time: time.Date(2026, 12, 7, 10, 0, 0, 123456789, time.UTC)}
	// Every field a value of its own, so a swap or a missing column shows.
	for n, p := range r.ScanTargets()[2:] { // after id and time
		switch p := p.(type) {
		case *string:
			*p = "s" + strings.Repeat("x", n)
		case *int:
			*p = 1000 + n
		case *int64:
			*p = int64(2000 + n)
		case *float64:
			*p = float64(n) + 0.5
		case *bool:
			*p = n%2 == 0
		default:
			t.Fatalf("field %d: unexpected type %T", n, p)
		}
	}
	r.FirstTokenMs = math.NaN()
	want := r.Values()
	want[0] = EncodeTime(r.Time)
	for i, v := range want {
		switch x := v.(type) {
		case int:
			want[i] = int64(x)
		case float64:
			if math.IsNaN(x) {
				want[i] = 0.0
			}
		}
	}
	if diff := cmp.Diff(want, appendValues(nil, &r)); diff != "" {
		t.Errorf("appendValues differs from Record.Values (-want +got):\n%s", diff)
	}
}
