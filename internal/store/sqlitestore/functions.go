package sqlitestore

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"modernc.org/sqlite"
)

// PercentileFunc is the SQL aggregate moat_percentile(x, p): the p-th
// quantile (p from 0 to 1) of the non-null x of a group, interpolated
// linearly between the closest ranks like PostgreSQL's percentile_cont; null
// for a group without values. The KQL compiler's SQLite dialect uses it for
// percentile() and percentiles(); SQLite itself has no such aggregate, and
// computing one with window functions sorted every row of the range (1.7 s
// for a day at 10 million rows; docs/benchmarks.md).
const PercentileFunc = "moat_percentile"

var registerOnce = sync.OnceValue(func() error {
	return sqlite.RegisterFunction(PercentileFunc, &sqlite.FunctionImpl{
		NArgs:         2,
		Deterministic: true,
		MakeAggregate: func(sqlite.FunctionContext) (sqlite.AggregateFunction, error) {
			return &percentile{p: -1}, nil
		},
	})
})

// RegisterFunctions makes moat's SQL functions (PercentileFunc) available to
// the SQLite connections opened after it. Open calls it; tests that open
// SQLite databases themselves call it first. It is safe to call repeatedly.
func RegisterFunctions() error { return registerOnce() }

// percentile is one group's moat_percentile.
type percentile struct {
	vals []float64
	p    float64 // -1 until the first row
}

func (a *percentile) Step(_ *sqlite.FunctionContext, args []driver.Value) error {
	if a.p < 0 {
		p, ok := number(args[1])
		if !ok || p < 0 || p > 1 {
			return fmt.Errorf("%s: rank must be a number from 0 to 1", PercentileFunc)
		}
		a.p = p
	}
	if v, ok := number(args[0]); ok && !math.IsNaN(v) {
		a.vals = append(a.vals, v)
	}
	return nil
}

func number(v driver.Value) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func (a *percentile) WindowInverse(*sqlite.FunctionContext, []driver.Value) error {
	return errors.New(PercentileFunc + " cannot be used as a window function")
}

func (a *percentile) WindowValue(*sqlite.FunctionContext) (driver.Value, error) {
	if len(a.vals) == 0 {
		return nil, nil
	}
	slices.Sort(a.vals)
	pos := a.p * float64(len(a.vals)-1)
	lo := math.Floor(pos)
	v := a.vals[int(lo)]
	if hi := int(math.Ceil(pos)); hi != int(lo) {
		v += (a.vals[hi] - v) * (pos - lo)
	}
	return v, nil
}

func (a *percentile) Final(*sqlite.FunctionContext) {}
