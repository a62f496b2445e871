package dashboard

import (
	"fmt"
	"time"

	"github.com/moat-gw/moat/internal/logquery"
)

// row reads one result row by column name, so that panels do not depend
// on column order; sums over no rows (null) read as zero.
type row struct {
	idx map[string]int
	v   []any
	err error
}

func rowsOf(r *logquery.Result) []row {
	idx := make(map[string]int, len(r.Columns))
	for i, c := range r.Columns {
		idx[c.Name] = i
	}
	out := make([]row, len(r.Rows))
	for i, v := range r.Rows {
		out[i] = row{idx: idx, v: v}
	}
	return out
}

func (r *row) get(name string) any {
	i, ok := r.idx[name]
	if !ok {
		r.err = fmt.Errorf("no column %s", name)
		return nil
	}
	return r.v[i]
}

func (r *row) int(name string) int64 {
	switch x := r.get(name).(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return 0
}

func (r *row) real(name string) float64 {
	switch x := r.get(name).(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

func (r *row) str(name string) string {
	s, _ := r.get(name).(string)
	return s
}

func (r *row) time(name string) time.Time {
	t, _ := r.get(name).(time.Time)
	return t
}

func (s *Summary) applyTotals(res *logquery.Result) error {
	for _, r := range rowsOf(res) {
		s.Totals = Totals{Calls: r.int("Calls"), Throttled: r.int("Throttled"), Errors: r.int("Errors"),
			PromptTokens: r.int("PromptTokens"), CompletionTokens: r.int("CompletionTokens"),
			TotalTokens: r.int("TotalTokens"), Callers: r.int("Callers")}
		return r.err
	}
	return nil
}

// applyTimeline fills every bucket of the window, with zeros where the
// query returned none.
func (s *Summary) applyTimeline(res *logquery.Result, win window) error {
	got := map[int64]Point{}
	for _, r := range rowsOf(res) {
		p := Point{Time: r.time("TimeGenerated"), Calls: r.int("Calls"), Throttled: r.int("Throttled"), Errors: r.int("Errors")}
		if r.err != nil {
			return r.err
		}
		got[p.Time.Unix()] = p
	}
	s.Timeline = make([]Point, 0, win.span/win.bin)
	for t := s.Start; !t.After(s.Now); t = t.Add(win.bin) {
		p, ok := got[t.Unix()]
		if !ok {
			p = Point{Time: t}
		}
		s.Timeline = append(s.Timeline, p)
	}
	return nil
}

func tokenRows(res *logquery.Result) ([]TokenRow, error) {
	out := []TokenRow{}
	for _, r := range rowsOf(res) {
		out = append(out, TokenRow{Name: r.str("Name"), Calls: r.int("Calls"), PromptTokens: r.int("PromptTokens"),
			CompletionTokens: r.int("CompletionTokens"), TotalTokens: r.int("TotalTokens")})
		if r.err != nil {
			return nil, r.err
		}
	}
	return out, nil
}

func (s *Summary) applyReasons(res *logquery.Result) error {
	s.ErrorsByReason = []ReasonRow{}
	for _, r := range rowsOf(res) {
		s.ErrorsByReason = append(s.ErrorsByReason, ReasonRow{Status: r.int("ResponseCode"),
			Reason: r.str("LastErrorReason"), Count: r.int("Count")})
		if r.err != nil {
			return r.err
		}
	}
	return nil
}

func (s *Summary) applyLatency(res *logquery.Result) error {
	s.LatencyByDeployment = []LatencyRow{}
	for _, r := range rowsOf(res) {
		s.LatencyByDeployment = append(s.LatencyByDeployment, LatencyRow{Name: r.str("DeploymentName"),
			Calls: r.int("Calls"), P50: r.real("P50"), P95: r.real("P95")})
		if r.err != nil {
			return r.err
		}
	}
	return nil
}
