package kql

import (
	"strconv"
	"strings"
)

// aggFuncs are the aggregation functions with their arities.
var aggFuncs = map[string]struct{ min, max int }{
	"count": {0, 0}, "countif": {1, 1}, "sum": {1, 1}, "sumif": {2, 2}, "avg": {1, 1},
	"avgif": {2, 2}, "min": {1, 1}, "max": {1, 1}, "dcount": {1, 2}, "percentile": {2, 2},
}

func itoa(i int) string { return strconv.Itoa(i) }

func (c *ectx) aggCall(e *callExpr) (sqlExpr, error) {
	if !c.aggs {
		return sqlExpr{}, c.errorf(e.pos, "aggregation function %s() is only allowed in summarize aggregations", e.name)
	}
	if c.inAgg {
		return sqlExpr{}, c.errorf(e.pos, "aggregation functions cannot be nested")
	}
	ar := aggFuncs[e.name]
	if len(e.args) < ar.min || len(e.args) > ar.max {
		return sqlExpr{}, c.errorf(e.pos, "%s() takes %s", e.name, arity(ar.min, ar.max))
	}
	c.inAgg = true
	defer func() { c.inAgg = false }()
	if c.b.roll != nil {
		res, err := c.rollupCall(e)
		if err != nil || res.sql != "" {
			return res, err
		}
	}
	a := make([]sqlExpr, len(e.args))
	for i, x := range e.args {
		v, err := c.expr(x)
		if err != nil {
			return sqlExpr{}, err
		}
		a[i] = v
	}
	pg := c.b.d == Postgres
	numeric := func(i int) error {
		if !a[i].t.numeric() {
			return c.errorf(e.args[i].exprPos(), "%s() needs a number, got %s", e.name, a[i].t)
		}
		return nil
	}
	predicate := func(i int) error {
		if a[i].t != tBool {
			return c.errorf(e.args[i].exprPos(), "%s() needs a boolean predicate, got %s", e.name, a[i].t)
		}
		return nil
	}
	var res sqlExpr
	switch e.name {
	case "count":
		res = sqlExpr{sql: "COUNT(*)", t: tLong}
	case "countif":
		if err := predicate(0); err != nil {
			return sqlExpr{}, err
		}
		res = sqlExpr{sql: "COUNT(CASE WHEN " + a[0].sql + " THEN 1 END)", t: tLong}
	case "sum", "sumif", "avg", "avgif":
		if err := numeric(0); err != nil {
			return sqlExpr{}, err
		}
		x := a[0].sql
		if len(a) == 2 {
			if err := predicate(1); err != nil {
				return sqlExpr{}, err
			}
			x = "CASE WHEN " + a[1].sql + " THEN " + x + " END"
		}
		switch {
		case strings.HasPrefix(e.name, "avg") && pg:
			res = sqlExpr{sql: "CAST(AVG(" + x + ") AS double precision)", t: tReal}
		case strings.HasPrefix(e.name, "avg"):
			res = sqlExpr{sql: "AVG(" + x + ")", t: tReal}
		case pg && a[0].t == tLong: // SUM(bigint) is numeric in PostgreSQL
			res = sqlExpr{sql: "CAST(SUM(" + x + ") AS bigint)", t: tLong}
		default:
			res = sqlExpr{sql: "SUM(" + x + ")", t: a[0].t}
		}
	case "min", "max":
		if a[0].t == tBool {
			return sqlExpr{}, c.errorf(e.args[0].exprPos(), "%s() of a bool is not supported", e.name)
		}
		res = sqlExpr{sql: strings.ToUpper(e.name) + "(" + a[0].sql + ")", t: a[0].t}
	case "dcount":
		if len(a) == 2 {
			if _, ok := a[1].cval.(int64); !ok {
				return sqlExpr{}, c.errorf(e.args[1].exprPos(), "dcount() accuracy must be a long literal")
			}
		}
		res = sqlExpr{sql: "COUNT(DISTINCT " + a[0].sql + ")", t: tLong}
	case "percentile":
		if err := numeric(0); err != nil {
			return sqlExpr{}, err
		}
		p, err := c.percent(e.args[1], a[1])
		if err != nil {
			return sqlExpr{}, err
		}
		res = c.percentile(a[0], p)
	}
	res.agg = true
	return res, nil
}

// percent checks a percentile rank: a numeric constant from 0 to 100.
func (c *ectx) percent(e expr, x sqlExpr) (float64, error) {
	var p float64
	switch v := x.cval.(type) {
	case int64:
		p = float64(v)
	case float64:
		p = v
	default:
		return 0, c.errorf(e.exprPos(), "percentile rank must be a number literal")
	}
	if p < 0 || p > 100 {
		return 0, c.errorf(e.exprPos(), "percentile rank must be between 0 and 100")
	}
	return p, nil
}

// SQLitePercentile is the aggregate the SQLite dialect computes percentiles
// with: name(x, p) with p from 0 to 1, interpolating linearly between the
// closest ranks like PostgreSQL's percentile_cont. SQLite has none built
// in; sqlitestore registers it (sqlitestore.PercentileFunc), and a database
// opened otherwise must register it to run such queries.
const SQLitePercentile = "moat_percentile"

// percentile interpolates linearly between the closest ranks: PostgreSQL's
// percentile_cont, SQLite's SQLitePercentile.
func (c *ectx) percentile(x sqlExpr, p float64) sqlExpr {
	frac := c.b.param(p / 100)
	if c.b.d == Postgres {
		return sqlExpr{sql: "percentile_cont(" + frac + ") WITHIN GROUP (ORDER BY CAST(" + x.sql + " AS double precision))", t: tReal}
	}
	return sqlExpr{sql: SQLitePercentile + "(" + x.sql + ", " + frac + ")", t: tReal}
}

// summaryItem is one output aggregation after expanding percentiles().
type summaryItem struct {
	name    nameRef // empty: derive a default name
	x       expr
	defName string
}

// expandAggs turns "percentiles(x, 50, 95)" into one percentile per rank
// and computes KQL's default names (count_, sum_X, percentile_X_95).
func (b *builder) expandAggs(aggs []aggItem) ([]summaryItem, error) {
	var out []summaryItem
	for _, a := range aggs {
		call, isCall := a.x.(*callExpr)
		if isCall && call.name == "percentiles" {
			if len(call.args) < 2 {
				return nil, b.errorf(call.pos, "percentiles() takes a column and at least one rank")
			}
			ranks := call.args[1:]
			if len(a.names) > 0 && len(a.names) != len(ranks) {
				return nil, b.errorf(a.names[0].pos, "%d names for %d percentiles", len(a.names), len(ranks))
			}
			for i, r := range ranks {
				it := summaryItem{x: &callExpr{pos: call.pos, name: "percentile", args: []expr{call.args[0], r}}}
				it.defName = "percentile_" + argName(call.args[0]) + "_" + rankName(r)
				if len(a.names) > 0 {
					it.name = a.names[i]
				}
				out = append(out, it)
			}
			continue
		}
		if len(a.names) > 1 {
			return nil, b.errorf(a.names[0].pos, "only percentiles() produces several columns")
		}
		it := summaryItem{x: a.x}
		if len(a.names) == 1 {
			it.name = a.names[0]
		}
		if isCall {
			if _, ok := aggFuncs[call.name]; ok {
				it.defName = call.name + "_"
				if len(call.args) > 0 {
					it.defName += argName(call.args[0])
				}
				if call.name == "percentile" && len(call.args) == 2 {
					it.defName += "_" + rankName(call.args[1])
				}
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// argName is the column name of a plain column argument, else "".
func argName(e expr) string {
	if id, ok := e.(*identExpr); ok {
		return id.name
	}
	return ""
}

func rankName(e expr) string {
	switch v := e.(type) {
	case *litExpr:
		switch n := v.val.(type) {
		case int64:
			return strconv.FormatInt(n, 10)
		case float64:
			return strings.ReplaceAll(strconv.FormatFloat(n, 'f', -1, 64), ".", "_")
		}
	}
	return ""
}
