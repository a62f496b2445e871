package logquery

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// WriteTable writes r as aligned columns with a header, for terminals.
// Times are RFC 3339 in UTC, reals keep at most three decimals, nulls are
// empty.
func WriteTable(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	names := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		names[i] = c.Name
	}
	fmt.Fprintln(tw, strings.Join(names, "\t"))
	cells := make([]string, len(r.Columns))
	for _, row := range r.Rows {
		for i, v := range row {
			cells[i] = tableCell(v)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// tableCell formats one value for WriteTable; tabs and newlines in strings
// become spaces so a row stays on one line.
func tableCell(v any) string {
	switch x := v.(type) {
	case float64:
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if i := strings.IndexByte(s, '.'); i >= 0 && len(s)-i-1 > 3 {
			s = strings.TrimRight(strings.TrimRight(strconv.FormatFloat(x, 'f', 3, 64), "0"), ".")
		}
		return s
	case string:
		return strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, x)
	}
	return textValue(v)
}

// textValue formats a value exactly, for CSV: RFC 3339 with nanoseconds
// for times, shortest round-trip form for reals, "" for null.
func textValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// WriteCSV writes r as RFC 4180 CSV (CRLF line ends, quoted where needed)
// with a header row.
func WriteCSV(w io.Writer, r *Result) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	rec := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		rec[i] = c.Name
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	for _, row := range r.Rows {
		for i, v := range row {
			rec[i] = textValue(v)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Wire is the JSON form of a Result, shared by WriteJSON, the query API and
// the dashboard.
type Wire struct {
	Columns   []WireColumn `json:"columns"`
	Rows      [][]any      `json:"rows"`
	Render    string       `json:"render"`
	Rollup    bool         `json:"rollup"`
	ElapsedMs float64      `json:"elapsed_ms"`
}

// WireColumn is one column in Wire.
type WireColumn struct {
	Name string            `json:"name"`
	Type reqlog.ColumnType `json:"type"`
}

// ToWire converts r for JSON: times become RFC 3339 strings in UTC and
// non-finite reals (which JSON cannot hold) become null.
func ToWire(r *Result) Wire {
	out := Wire{
		Columns:   make([]WireColumn, len(r.Columns)),
		Rows:      make([][]any, len(r.Rows)),
		Render:    r.Render,
		Rollup:    r.Rollup,
		ElapsedMs: math.Round(float64(r.Elapsed.Microseconds())) / 1000,
	}
	for i, c := range r.Columns {
		out.Columns[i] = WireColumn{Name: c.Name, Type: c.Type}
	}
	for i, row := range r.Rows {
		cells := make([]any, len(row))
		for j, v := range row {
			switch x := v.(type) {
			case time.Time:
				cells[j] = x.UTC().Format(time.RFC3339Nano)
			case float64:
				if math.IsNaN(x) || math.IsInf(x, 0) {
					cells[j] = nil
				} else {
					cells[j] = x
				}
			default:
				cells[j] = v
			}
		}
		out.Rows[i] = cells
	}
	return out
}

// WriteJSON writes r as one JSON object, the same document the query API
// returns: {"columns":[{"name","type"}],"rows":[[…]],"render":"…","rollup":false,"elapsed_ms":N}.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(ToWire(r))
}
