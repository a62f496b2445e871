package logquery_test

import (
	"bytes"
	"encoding/csv"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/kql"
	"github.com/moat-gw/moat/internal/logquery"
	"github.com/moat-gw/moat/internal/reqlog"
)

// sample has one value of every type, a null, and text that needs quoting.
func sample() *logquery.Result {
	return &logquery.Result{
		Columns: []kql.OutColumn{
			{Name: "TimeGenerated", Type: reqlog.TypeTime}, {Name: "CallerId", Type: reqlog.TypeString},
			{Name: "Calls", Type: reqlog.TypeInt}, {Name: "P95", Type: reqlog.TypeReal}, {Name: "Streamed", Type: reqlog.TypeBool},
		},
		Rows: [][]any{
			{time.Date(2026, 3, 14, 12, 0, 0, 500000000, time.UTC), "alice", int64(3), 120.123456, true},
			{time.Date(2026, 3, 14, 12, 1, 0, 0, time.FixedZone("x", 3600)), "bob, \"the\"\nbuilder", int64(0), nil, false},
		},
		Render:  "timechart",
		Elapsed: 1234567 * time.Nanosecond,
	}
}

func TestFormats(t *testing.T) {
	tests := []struct {
		name  string
		write func(w *bytes.Buffer, r *logquery.Result) error
		res   *logquery.Result
		want  string
	}{
		{
			name:  "table",
			write: func(w *bytes.Buffer, r *logquery.Result) error { return logquery.WriteTable(w, r) },
			res:   sample(),
			want: "TimeGenerated           CallerId            Calls  P95      Streamed\n" +
				"2026-03-14T12:00:00.5Z  alice               3      120.123  true\n" +
				"2026-03-14T11:01:00Z    bob, \"the\" builder  0               false\n",
		},
		{
			name:  "csv",
			write: func(w *bytes.Buffer, r *logquery.Result) error { return logquery.WriteCSV(w, r) },
			res:   sample(),
			want: "TimeGenerated,CallerId,Calls,P95,Streamed\r\n" +
				"2026-03-14T12:00:00.5Z,alice,3,120.123456,true\r\n" +
				"2026-03-14T11:01:00Z,\"bob, \"\"the\"\"\r\nbuilder\",0,,false\r\n",
		},
		{
			name:  "json",
			write: func(w *bytes.Buffer, r *logquery.Result) error { return logquery.WriteJSON(w, r) },
			res:   sample(),
			want: `{"columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"CallerId","type":"string"},` +
				`{"name":"Calls","type":"long"},{"name":"P95","type":"real"},{"name":"Streamed","type":"bool"}],` +
				`"rows":[["2026-03-14T12:00:00.5Z","alice",3,120.123456,true],["2026-03-14T11:01:00Z","bob, \"the\"\nbuilder",0,null,false]],` +
				`"render":"timechart","rollup":false,"elapsed_ms":1.234}` + "\n",
		},
		{
			name:  "json without rows or finite reals",
			write: func(w *bytes.Buffer, r *logquery.Result) error { return logquery.WriteJSON(w, r) },
			res: &logquery.Result{Columns: []kql.OutColumn{{Name: "x", Type: reqlog.TypeReal}},
				Rows: [][]any{{math.Inf(1)}, {math.NaN()}}},
			want: `{"columns":[{"name":"x","type":"real"}],"rows":[[null],[null]],"render":"","rollup":false,"elapsed_ms":0}` + "\n",
		},
		{
			name:  "table of nothing keeps the header",
			write: func(w *bytes.Buffer, r *logquery.Result) error { return logquery.WriteTable(w, r) },
			res:   &logquery.Result{Columns: []kql.OutColumn{{Name: "Count", Type: reqlog.TypeInt}}},
			want:  "Count\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.write(&b, tt.res); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzCSV checks that any strings survive WriteCSV and a standard CSV
// reader unchanged, so exports open correctly in spreadsheets.
func FuzzCSV(f *testing.F) {
	f.Add("plain", "")
	f.Add("a,b", "\"quoted\"")
	f.Add("line\nbreak", "cr\r\nlf")
	f.Add(" lead", "trail ")
	f.Fuzz(func(t *testing.T, a, b string) {
		if strings.ContainsRune(a+b, '\r') {
			// encoding/csv reads a quoted \r\n as \n, as RFC 4180 readers
			// commonly do; exactness is checked for everything else.
			a, b = strings.ReplaceAll(a, "\r", ""), strings.ReplaceAll(b, "\r", "")
		}
		r := &logquery.Result{
			Columns: []kql.OutColumn{{Name: "a", Type: reqlog.TypeString}, {Name: "b", Type: reqlog.TypeString}},
			Rows:    [][]any{{a, b}},
		}
		var buf bytes.Buffer
		if err := logquery.WriteCSV(&buf, r); err != nil {
			t.Fatal(err)
		}
		rd := csv.NewReader(&buf)
		rd.LazyQuotes = false
		recs, err := rd.ReadAll()
		if err != nil {
			t.Fatalf("read back %q: %v", buf.String(), err)
		}
		want := [][]string{{"a", "b"}, {a, b}}
		if diff := cmp.Diff(want, recs); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	})
}

func BenchmarkWriteJSON(b *testing.B) {
	r := sample()
	for range 10 {
		r.Rows = append(r.Rows, r.Rows...)
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := logquery.WriteJSON(&buf, r); err != nil {
			b.Fatal(err)
		}
	}
}
