package kql

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/reqlog"
)

func TestDecode(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	tests := []struct {
		name string
		t    reqlog.ColumnType
		in   any
		want any
	}{
		{"sqlite datetime", reqlog.TypeTime, ts.UnixMicro(), ts},
		{"postgres datetime", reqlog.TypeTime, ts.In(time.FixedZone("x", 3600)), ts},
		{"sqlite bool", reqlog.TypeBool, int64(1), true},
		{"postgres bool", reqlog.TypeBool, false, false},
		{"int32", reqlog.TypeInt, int32(7), int64(7)},
		{"real from integer", reqlog.TypeReal, int64(2), 2.0},
		{"bytes", reqlog.TypeString, []byte("abc"), "abc"},
		{"null", reqlog.TypeReal, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.t, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := Decode(reqlog.TypeBool, 1.5); err == nil {
		t.Error("want an error decoding a float as bool")
	}
}

func TestDecodeRowLength(t *testing.T) {
	q := &Query{Columns: []OutColumn{{Name: "a", Type: reqlog.TypeInt}}}
	if err := q.DecodeRow([]any{int64(1), int64(2)}); err == nil {
		t.Fatal("want an error for a row of the wrong length")
	}
}

func TestColumns(t *testing.T) {
	cols := Columns()
	if len(cols) != len(reqlog.Columns())+1 || cols[0] != (OutColumn{Name: "Id", Type: reqlog.TypeInt}) {
		t.Fatalf("Columns() = %v", cols)
	}
	if cols[1] != (OutColumn{Name: "TimeGenerated", Type: reqlog.TypeTime}) {
		t.Fatalf("Columns()[1] = %v", cols[1])
	}
}

func BenchmarkCompile(b *testing.B) {
	const q = `MoatGatewayLogs
| where TimeGenerated > ago(1h) and BackendId != ""
| summarize TotalRequests = count(), Failed = countif(BackendResponseCode >= 400), p95 = percentile(TotalTime, 95) by BackendId, bin(TimeGenerated, 5m)
| extend SuccessRate = round(100.0 * (TotalRequests - Failed) / TotalRequests, 2)
| order by SuccessRate asc`
	for _, d := range dialects {
		b.Run(d.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(q, d, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
