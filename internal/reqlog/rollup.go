package reqlog

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// The rollup is the request log pre-aggregated by hour and by UTC day,
// written by the stores in the same transaction as the records it counts,
// so it always agrees with the log. The KQL compiler reads it for the whole
// hours and days of a summarize query's range (docs/observability.md), which
// keeps week-long summaries fast at tens of millions of rows.
//
// A rollup row is keyed by its grain, the start of its bucket (column
// "time") and the RollupDims values; it holds the number of calls
// ("calls") and, for each RollupMeasures column m, sum_m, min_m and max_m.
// Changing either list changes the table: it needs a store migration that
// rebuilds it.
const RollupTable = "request_log_rollup"

// Rollup grains: the bucket sizes written for every record.
const (
	GrainHour = time.Hour
	GrainDay  = 24 * time.Hour
)

// Grains lists the rollup grains, finest first.
var grains = []time.Duration{GrainHour, GrainDay}

// Grains returns the rollup grains, finest first.
func Grains() []time.Duration { return slices.Clone(grains) }

// rollupDims are the low-cardinality columns rollup rows are keyed by: who
// called what, where it went, how it ended and which replica served it (a
// fleet has a handful, and "by replica" over a week is a common question). High-cardinality columns
// (request id, client address, path, messages) are not rolled up.
var rollupDims = []string{
	"caller", "auth_type", "listener", "deployment", "model", "upstream", "region",
	"operation", "api_version", "status", "upstream_status", "error_kind",
	"streamed", "tokens_estimated", "replica",
	// Chargeback (package report): who owns the call and which prices
	// costed it. Teams and price versions are few; key names follow keys.
	"key_name", "team", "price_version",
}

// rollupMeasures are the numeric columns summed (and their minimum and
// maximum kept) per rollup row.
var rollupMeasures = []string{
	"total_ms", "upstream_ms", "first_byte_ms", "prompt_tokens", "completion_tokens",
	"total_tokens", "request_bytes", "response_bytes", "attempts", "cost",
}

// Rollup columns added with teams and cost (migration teams_and_cost in
// both stores): the rollup tables of earlier migrations lack them.
var (
	teamsAndCostDims     = []string{"key_name", "team", "price_version"}
	teamsAndCostMeasures = []string{"cost"}
)

// TeamsAndCostDims returns the rollup dimensions added with teams and cost.
func TeamsAndCostDims() []string { return slices.Clone(teamsAndCostDims) }

// TeamsAndCostMeasures returns the rollup measures added with teams and cost.
func TeamsAndCostMeasures() []string { return slices.Clone(teamsAndCostMeasures) }

// RollupDimsWithout returns the rollup dimensions without the ones added
// by later migrations, so that an old migration of either store builds the
// table it always built.
func RollupDimsWithout(added ...string) []Column { return without(RollupDims(), added) }

// RollupMeasuresWithout is RollupDimsWithout for the measures.
func RollupMeasuresWithout(added ...string) []Column { return without(RollupMeasures(), added) }

func without(cols []Column, added []string) []Column {
	var out []Column
	for _, c := range cols {
		if !slices.Contains(added, c.SQL) {
			out = append(out, c)
		}
	}
	return out
}

// RollupColumnDefault gives the columns added with teams and cost a
// default (as SQL after the column's type), so that an earlier migration's
// fill, re-run by the stores' migration tests, can leave them out; the
// columns of older tables keep their exact schema.
func RollupColumnDefault(c Column) string {
	switch {
	case slices.Contains(teamsAndCostDims, c.SQL):
		return " DEFAULT ''"
	case slices.Contains(teamsAndCostMeasures, c.SQL):
		return " DEFAULT 0"
	}
	return ""
}

// RollupDims returns the columns a rollup row is keyed by, in table order.
func RollupDims() []Column { return pick(rollupDims) }

// RollupMeasures returns the columns a rollup row aggregates, in table order.
func RollupMeasures() []Column { return pick(rollupMeasures) }

// measureIsInt says, per RollupMeasures column, whether it holds integers;
// Values reads it for every row it writes.
var measureIsInt = func() []bool {
	var out []bool
	for _, m := range pick(rollupMeasures) {
		out = append(out, m.Type == TypeInt)
	}
	return out
}()

func pick(names []string) []Column {
	out := make([]Column, 0, len(names))
	for _, n := range names {
		for _, c := range columns {
			if c.SQL == n {
				out = append(out, c)
			}
		}
	}
	return out
}

// RollupColumns returns the rollup table's column names in table order:
// grain, time, the dimensions, calls, then sum_m, min_m, max_m per measure.
func RollupColumns() []string {
	out := []string{"grain", "time"}
	out = append(out, rollupDims...)
	out = append(out, "calls")
	for _, m := range rollupMeasures {
		out = append(out, "sum_"+m, "min_"+m, "max_"+m)
	}
	return out
}

// RollupRow is one bucket of the rollup: its values in RollupColumns order
// are Values(). Integer measures (tokens, bytes, attempts) are int64 and
// durations float64, as in the log.
type RollupRow struct {
	Grain time.Duration
	Time  time.Time // bucket start, UTC
	Dims  []any     // RollupDims values: string, int64 or bool; shared by the rows of a Rollup with the same values, so read-only
	Calls int64
	Sum   []float64 // per measure; integer measures hold exact integers
	Min   []float64
	Max   []float64
}

// Values returns the row's values in RollupColumns order, grain in seconds
// and time as a UTC time.Time; stores encode them as their columns need.
func (r *RollupRow) Values() []any {
	return r.AppendValues(make([]any, 0, 3+len(r.Dims)+3*len(r.Sum)))
}

// AppendValues appends Values to v, for statements of several rows.
func (r *RollupRow) AppendValues(v []any) []any {
	v = append(v, int64(r.Grain/time.Second), r.Time)
	v = append(v, r.Dims...)
	v = append(v, r.Calls)
	for i := range r.Sum {
		if measureIsInt[i] {
			v = append(v, int64(r.Sum[i]), int64(r.Min[i]), int64(r.Max[i]))
		} else {
			v = append(v, r.Sum[i], r.Min[i], r.Max[i])
		}
	}
	return v
}

// Rollup aggregates recs into rollup rows for every grain, sorted by grain,
// time and dimensions, so that concurrent writers upsert them in the same
// order. NaN durations count as 0, as the stores store them.
func Rollup(recs []Record) []RollupRow {
	var s RollupSet
	s.Add(recs)
	return s.Rows()
}

// RollupSet aggregates records into rollup rows across calls of Add, for a
// store that adds a stretch of batches to its rollup at once. The zero
// value is empty and ready; it is not safe for concurrent use.
type RollupSet struct {
	// A record's dimensions are hashed once, into dims; the buckets are
	// keyed by their index, so each grain's lookup hashes three integers
	// rather than every dimension again.
	dims      map[dimKey]int
	dimValues [][]any
	idx       map[rollupKey]int
	rows      []RollupRow
}

type rollupKey struct {
	grain time.Duration
	t     int64
	dims  int
}

// Add adds recs to the set's rows.
func (s *RollupSet) Add(recs []Record) {
	if s.dims == nil {
		s.dims, s.idx = map[dimKey]int{}, map[rollupKey]int{}
	}
	for i := range recs {
		r := &recs[i]
		dk := newDimKey(r)
		d, ok := s.dims[dk]
		if !ok {
			d = len(s.dimValues)
			s.dims[dk] = d
			s.dimValues = append(s.dimValues, dk.values())
		}
		meas := measures(r)
		t := r.Time.UTC().Truncate(time.Microsecond)
		for _, g := range grains {
			start := t.Truncate(g)
			k := rollupKey{g, start.UnixMicro(), d}
			j, ok := s.idx[k]
			if !ok {
				j = len(s.rows)
				s.idx[k] = j
				s.rows = append(s.rows, RollupRow{Grain: g, Time: start, Dims: s.dimValues[d],
					Sum: make([]float64, len(meas)), Min: slices.Clone(meas[:]), Max: slices.Clone(meas[:])})
			}
			row := &s.rows[j]
			row.Calls++
			for m, v := range meas {
				row.Sum[m] += v
				row.Min[m] = min(row.Min[m], v)
				row.Max[m] = max(row.Max[m], v)
			}
		}
	}
}

// Len is how many rows (buckets) the set holds.
func (s *RollupSet) Len() int { return len(s.rows) }

// Rows returns the set's rows sorted as Rollup sorts them. They share
// their slices with the set until Reset.
func (s *RollupSet) Rows() []RollupRow {
	rows := slices.Clone(s.rows)
	slices.SortFunc(rows, func(a, b RollupRow) int {
		if c := cmp.Compare(a.Grain, b.Grain); c != 0 {
			return c
		}
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return compareDims(a.Dims, b.Dims)
	})
	return rows
}

// Reset empties the set, letting its rows and strings go.
func (s *RollupSet) Reset() {
	s.dims, s.idx, s.dimValues, s.rows = nil, nil, nil, nil
}

// dimKey is a record's RollupDims values, comparable so that it can key a
// map without boxing every value of every record.
type dimKey struct {
	caller, authType, listener, deployment, model, upstream, region, operation, apiVersion string
	status, upstreamStatus                                                                 int64
	errorKind                                                                              string
	streamed, tokensEstimated                                                              bool
	replica                                                                                string
	keyName, team, priceVersion                                                            string
}

func newDimKey(r *Record) dimKey {
	return dimKey{
		caller: r.Caller, authType: r.AuthType, listener: r.Listener, deployment: r.Deployment,
		model: r.Model, upstream: r.Upstream, region: r.Region, operation: r.Operation,
		apiVersion: r.APIVersion, status: int64(r.Status), upstreamStatus: int64(r.UpstreamStatus),
		errorKind: r.ErrorKind, streamed: r.Streamed, tokensEstimated: r.TokensEstimated,
		replica: r.Replica, keyName: r.KeyName, team: r.Team, priceVersion: r.PriceVersion,
	}
}

// values returns the key in rollupDims order (a test checks the order).
func (k dimKey) values() []any {
	return []any{k.caller, k.authType, k.listener, k.deployment, k.model, k.upstream, k.region,
		k.operation, k.apiVersion, k.status, k.upstreamStatus, k.errorKind, k.streamed, k.tokensEstimated, k.replica,
		k.keyName, k.team, k.priceVersion}
}

// measures returns r's RollupMeasures values in order (a test checks the
// order); NaN durations are 0, as stored.
func measures(r *Record) [10]float64 {
	f := func(v float64) float64 {
		if v != v {
			return 0
		}
		return v
	}
	return [10]float64{f(r.TotalMs), f(r.UpstreamMs), f(r.FirstByteMs), float64(r.PromptTokens),
		float64(r.CompletionTokens), float64(r.TotalTokens), float64(r.RequestBytes),
		float64(r.ResponseBytes), float64(r.Attempts), f(r.Cost)}
}

func compareDims(a, b []any) int {
	for i := range a {
		var c int
		switch x := a[i].(type) {
		case string:
			c = strings.Compare(x, b[i].(string))
		case int64:
			c = cmp.Compare(x, b[i].(int64))
		case bool:
			y := b[i].(bool)
			switch {
			case x == y:
			case x:
				c = 1
			default:
				c = -1
			}
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
