package reqlog

import (
	"math"
	"testing"
	"time"
)

func TestRollup(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 59, 59, 999_999_000, time.UTC)
	recs := []Record{
		{Time: t0, Caller: "a", Deployment: "d", Status: 200, TotalMs: 10, PromptTokens: 5, TotalTokens: 7},
		{Time: t0.Add(-30 * time.Minute), Caller: "a", Deployment: "d", Status: 200, TotalMs: math.NaN(), PromptTokens: 1, TotalTokens: 2},
		{Time: t0.Add(time.Microsecond), Caller: "a", Deployment: "d", Status: 200, TotalMs: 4, TotalTokens: 1}, // 11:00, next hour
		{Time: t0, Caller: "b", Deployment: "d", Status: 429, TotalMs: 1},
	}
	rows := Rollup(recs)
	type want struct {
		grain        time.Duration
		start        time.Time
		caller       string
		calls        int64
		sumMs, minMs float64
		sumTokens    float64
	}
	hour := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	wants := []want{
		{GrainHour, hour, "a", 2, 10, 0, 9},
		{GrainHour, hour, "b", 1, 1, 1, 0},
		{GrainHour, hour.Add(time.Hour), "a", 1, 4, 4, 1},
		{GrainDay, day, "a", 3, 14, 0, 10},
		{GrainDay, day, "b", 1, 1, 1, 0},
	}
	if len(rows) != len(wants) {
		t.Fatalf("got %d rows, want %d: %+v", len(rows), len(wants), rows)
	}
	ms, tokens := -1, -1
	for i, m := range RollupMeasures() {
		switch m.SQL {
		case "total_ms":
			ms = i
		case "total_tokens":
			tokens = i
		}
	}
	for i, w := range wants {
		r := rows[i]
		if r.Grain != w.grain || !r.Time.Equal(w.start) || r.Dims[0] != w.caller || r.Calls != w.calls ||
			r.Sum[ms] != w.sumMs || r.Min[ms] != w.minMs || r.Sum[tokens] != w.sumTokens {
			t.Errorf("row %d = %v %v %v calls %d ms sum %v min %v tokens %v; want %+v",
				i, r.Grain, r.Time, r.Dims[0], r.Calls, r.Sum[ms], r.Min[ms], r.Sum[tokens], w)
		}
		if got := len(r.Values()); got != len(RollupColumns()) {
			t.Errorf("row %d has %d values for %d columns", i, got, len(RollupColumns()))
		}
	}
	if got, want := len(RollupDims())+len(RollupMeasures()), len(rollupDims)+len(rollupMeasures); got != want {
		t.Errorf("rollup lists name %d columns that are not in the log", want-got)
	}
}

// TestRollupFieldOrder keeps the hand-written dimKey and measures in step
// with the rollup lists, by reading the same columns from Record.Values.
func TestRollupFieldOrder(t *testing.T) {
	r := Record{Time: time.Now(), RequestID: "id", Caller: "c", AuthType: "a", ClientIP: "ip", Listener: "l",
		Deployment: "d", Model: "m", Upstream: "u", Operation: "o", APIVersion: "v", Method: "POST", Path: "/p",
		Status: 429, UpstreamStatus: 503, ErrorKind: "e", ErrorMessage: "msg", TotalMs: 1.5, UpstreamMs: 2.5,
		FirstByteMs: 3.5, PromptTokens: 4, CompletionTokens: 5, TotalTokens: 9, TokensEstimated: true,
		Streamed: false, RequestBytes: 10, ResponseBytes: 11, Region: "r", Attempts: 2}
	pos := map[string]int{}
	for i, c := range columns {
		pos[c.SQL] = i
	}
	v := r.Values()
	dims := newDimKey(&r).values()
	for i, name := range rollupDims {
		want := v[pos[name]]
		if n, ok := want.(int); ok {
			want = int64(n)
		}
		if dims[i] != want {
			t.Errorf("dimension %d (%s) = %v, want %v", i, name, dims[i], want)
		}
	}
	meas := measures(&r)
	if len(meas) != len(rollupMeasures) {
		t.Fatalf("%d measures, want %d", len(meas), len(rollupMeasures))
	}
	for i, name := range rollupMeasures {
		var want float64
		switch x := v[pos[name]].(type) {
		case float64:
			want = x
		case int:
			want = float64(x)
		case int64:
			want = float64(x)
		}
		if meas[i] != want {
			t.Errorf("measure %d (%s) = %v, want %v", i, name, meas[i], want)
		}
	}
}
