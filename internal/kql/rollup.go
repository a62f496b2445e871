package kql

import (
	"errors"
	"math"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// Options tune Compile.
type Options struct {
	// Rollup lets a query that starts with where … | summarize read
	// reqlog.RollupTable for the whole hours and days of its time range
	// and the log itself only for the partial hours at its ends. The
	// results are the same as from the log alone (sums of reals may
	// differ in their last bits); queries the rollup cannot answer are
	// compiled against the log as usual. The store must keep the rollup in
	// step with the log, as moat's stores do.
	Rollup bool
	// HideContent leaves the prompt and completion columns
	// (RequestMessages, ResponseMessages) out of the table, for callers
	// without the content permission: naming one is an error that says
	// so, and "project *" or no project at all omits them.
	HideContent bool
}

// errNoRollup abandons the rollup plan; the query is compiled against the
// log instead. It never reaches callers.
var errNoRollup = errors.New("kql: the rollup cannot answer this query")

// timeColumn is the KQL name of the log's time column.
const timeColumn = "TimeGenerated"

// rollupAgg is the summarize in progress over the rollup union.
type rollupAgg struct {
	alias    string
	measures map[string]reqlog.Column // by KQL name
}

// span is a half-open range of unix microseconds; min and max int64 stand
// for unbounded.
type span struct{ lo, hi int64 }

const (
	unboundedLo = math.MinInt64
	unboundedHi = math.MaxInt64
)

func (s span) empty() bool { return s.lo >= s.hi }

// tryRollup compiles the leading where … | summarize of q over the rollup
// and returns the SELECT and how many operators it consumed, or ok false
// (with the builder as it was) when the rollup cannot answer it or would
// not help.
func (b *builder) tryRollup(q *query) (s *sel, consumed int, ok bool) {
	nargs, nalias, nhide := len(b.args), b.nalias, b.nhide
	s, consumed, err := b.rollup(q)
	if err != nil {
		b.args, b.nalias, b.nhide = b.args[:nargs], nalias, nhide
		return nil, 0, false
	}
	return s, consumed, true
}

func (b *builder) rollup(q *query) (*sel, int, error) {
	var wheres []*whereOp
	i := 0
	for ; i < len(q.ops); i++ {
		w, ok := q.ops[i].(*whereOp)
		if !ok {
			break
		}
		wheres = append(wheres, w)
	}
	if i == len(q.ops) {
		return nil, 0, errNoRollup
	}
	sum, ok := q.ops[i].(*summarizeOp)
	if !ok {
		return nil, 0, errNoRollup
	}
	raw := b.base(q.tablePos) // the log's columns, to fold the constant bounds against
	rc := &ectx{b: b, s: raw}

	// The time range: conjuncts on TimeGenerated bound it; the others must
	// not mention it.
	rng := span{unboundedLo, unboundedHi}
	var preds []expr
	for _, w := range wheres {
		for _, c := range conjuncts(w.pred) {
			if !mentions(c, timeColumn) {
				preds = append(preds, c)
				continue
			}
			r, err := timeBound(rc, c)
			if err != nil {
				return nil, 0, err
			}
			rng = span{max(rng.lo, r.lo), min(rng.hi, r.hi)}
		}
	}
	if rng.empty() {
		return nil, 0, errNoRollup
	}

	// The coarsest grain every bin() of the keys is a multiple of.
	allowDay := true
	for _, k := range sum.by {
		if !mentions(k.x, timeColumn) {
			continue
		}
		size, err := timeBin(rc, k.x)
		if err != nil {
			return nil, 0, err
		}
		switch {
		case size%reqlog.GrainDay == 0:
		case size%reqlog.GrainHour == 0:
			allowDay = false
		default:
			return nil, 0, errNoRollup
		}
	}
	for _, a := range sum.aggs {
		if mentions(a.x, timeColumn) {
			return nil, 0, errNoRollup
		}
	}

	// Whole days, then whole hours, from the rollup; the rest from the log.
	hours := span{ceilTo(rng.lo, reqlog.GrainHour), floorTo(rng.hi, reqlog.GrainHour)}
	if past := floorTo(b.now.UnixMicro(), reqlog.GrainHour); hours.lo >= min(hours.hi, past) {
		return nil, 0, errNoRollup // not one whole past hour: the log alone is as fast
	}
	var days span
	if allowDay {
		days = span{ceilTo(rng.lo, reqlog.GrainDay), floorTo(rng.hi, reqlog.GrainDay)}
	}
	type piece struct {
		grain time.Duration // 0: the log
		r     span
	}
	pieces := []piece{{0, span{rng.lo, hours.lo}}}
	if days.empty() {
		pieces = append(pieces, piece{reqlog.GrainHour, hours})
	} else {
		pieces = append(pieces, piece{reqlog.GrainHour, span{hours.lo, days.lo}},
			piece{reqlog.GrainDay, days}, piece{reqlog.GrainHour, span{days.hi, hours.hi}})
	}
	pieces = append(pieces, piece{0, span{hours.hi, rng.hi}})

	// The union's columns: time, the dimensions and the partial aggregates.
	dims, meas := reqlog.RollupDims(), reqlog.RollupMeasures()
	out := &sel{alias: b.newAlias(), limit: -1}
	agg := &rollupAgg{alias: out.alias, measures: map[string]reqlog.Column{}}
	for _, m := range meas {
		agg.measures[m.KQL] = m
	}
	for _, p := range pieces {
		if p.r.empty() {
			continue
		}
		br := &sel{limit: -1}
		var partial func(kind string, m reqlog.Column) string
		if p.grain == 0 {
			br.table, br.alias = reqlog.SQLTable, b.newAlias()
			partial = func(_ string, m reqlog.Column) string { return qualify(br.alias, m.SQL) }
			br.cols = append(br.cols, column{name: "__n", sql: "1"})
		} else {
			br.table, br.alias = reqlog.RollupTable, b.newAlias()
			partial = func(kind string, m reqlog.Column) string { return qualify(br.alias, kind+"_"+m.SQL) }
			br.cols = append(br.cols, column{name: "__n", sql: qualify(br.alias, "calls")})
			br.where = append(br.where, qualify(br.alias, "grain")+" = "+b.param(int64(p.grain/time.Second)))
		}
		br.cols = append(br.cols, column{name: "time", sql: qualify(br.alias, "time")})
		for _, d := range dims {
			br.cols = append(br.cols, column{name: d.SQL, sql: qualify(br.alias, d.SQL)})
		}
		for _, m := range meas {
			for _, kind := range []string{"sum", "min", "max"} {
				br.cols = append(br.cols, column{name: "__" + kind + "_" + m.SQL, sql: partial(kind, m)})
			}
		}
		if p.r.lo != unboundedLo {
			br.where = append(br.where, qualify(br.alias, "time")+" >= "+b.param(time.UnixMicro(p.r.lo).UTC()))
		}
		if p.r.hi != unboundedHi {
			br.where = append(br.where, qualify(br.alias, "time")+" < "+b.param(time.UnixMicro(p.r.hi).UTC()))
		}
		out.union = append(out.union, br)
	}
	for _, c := range schema() {
		if c.kql == timeColumn {
			out.cols = append(out.cols, column{name: c.kql, t: c.t, sql: qualify(out.alias, "time"), pos: q.tablePos})
		}
		for _, d := range dims {
			if d.SQL == c.sql {
				out.cols = append(out.cols, column{name: c.kql, t: c.t, sql: qualify(out.alias, c.sql), pos: q.tablePos})
			}
		}
	}
	wc := &ectx{b: b, s: out}
	for _, p := range preds {
		x, err := wc.expr(p)
		if err != nil || x.t != tBool {
			return nil, 0, errNoRollup
		}
		out.where = append(out.where, x.sql)
	}
	b.roll = agg
	defer func() { b.roll = nil }()
	g, err := b.summarize(out, sum)
	if err != nil {
		return nil, 0, errNoRollup
	}
	return g, i + 1, nil
}

// rollupCall compiles an aggregation over the union's partial aggregates:
// calls, and per measure its sum, minimum and maximum.
func (c *ectx) rollupCall(e *callExpr) (sqlExpr, error) {
	r := c.b.roll
	pg := c.b.d == Postgres
	n := qualify(r.alias, "__n")
	measure := func(i int) (reqlog.Column, bool) {
		id, ok := e.args[i].(*identExpr)
		if !ok {
			return reqlog.Column{}, false
		}
		m, ok := r.measures[id.name]
		return m, ok
	}
	pred := func(i int) (string, error) {
		x, err := c.expr(e.args[i])
		if err != nil || x.t != tBool {
			return "", errNoRollup
		}
		return x.sql, nil
	}
	bigint := func(sql string) string {
		if pg {
			return "CAST(" + sql + " AS bigint)" // SUM(bigint) is numeric in PostgreSQL
		}
		return sql
	}
	real := func(sql string) string {
		if pg {
			return "CAST(" + sql + " AS double precision)"
		}
		return "CAST(" + sql + " AS REAL)"
	}
	switch e.name {
	case "count":
		return sqlExpr{sql: bigint("COALESCE(SUM(" + n + "), 0)"), t: tLong, agg: true}, nil
	case "countif":
		p, err := pred(0)
		if err != nil {
			return sqlExpr{}, err
		}
		return sqlExpr{sql: bigint("COALESCE(SUM(CASE WHEN " + p + " THEN " + n + " ELSE 0 END), 0)"), t: tLong, agg: true}, nil
	case "sum", "sumif", "avg", "avgif":
		m, ok := measure(0)
		if !ok {
			return sqlExpr{}, errNoRollup
		}
		x, cnt := qualify(r.alias, "__sum_"+m.SQL), n
		if len(e.args) == 2 {
			p, err := pred(1)
			if err != nil {
				return sqlExpr{}, err
			}
			x, cnt = "CASE WHEN "+p+" THEN "+x+" END", "CASE WHEN "+p+" THEN "+n+" END"
		}
		t := typeOfColumn(m.Type)
		if strings.HasPrefix(e.name, "avg") {
			return sqlExpr{sql: "(" + real("SUM("+x+")") + " / NULLIF(" + real("SUM("+cnt+")") + ", 0))", t: tReal, agg: true}, nil
		}
		if t == tLong {
			return sqlExpr{sql: bigint("SUM(" + x + ")"), t: t, agg: true}, nil
		}
		return sqlExpr{sql: "SUM(" + x + ")", t: t, agg: true}, nil
	case "min", "max":
		if m, ok := measure(0); ok {
			return sqlExpr{sql: strings.ToUpper(e.name) + "(" + qualify(r.alias, "__"+e.name+"_"+m.SQL) + ")",
				t: typeOfColumn(m.Type), agg: true}, nil
		}
		return sqlExpr{}, nil // a dimension: as over the log
	case "dcount":
		return sqlExpr{}, nil // of dimensions: as over the log
	}
	return sqlExpr{}, errNoRollup // percentiles need every value
}

// conjuncts splits a predicate on its top-level "and"s.
func conjuncts(e expr) []expr {
	if b, ok := e.(*binaryExpr); ok && b.op == "and" {
		return append(conjuncts(b.l), conjuncts(b.r)...)
	}
	return []expr{e}
}

// mentions reports whether e refers to the column name.
func mentions(e expr, name string) bool {
	switch e := e.(type) {
	case *identExpr:
		return e.name == name
	case *unaryExpr:
		return mentions(e.x, name)
	case *binaryExpr:
		return mentions(e.l, name) || mentions(e.r, name)
	case *callExpr:
		for _, a := range e.args {
			if mentions(a, name) {
				return true
			}
		}
	case *inExpr:
		if mentions(e.x, name) {
			return true
		}
		for _, a := range e.list {
			if mentions(a, name) {
				return true
			}
		}
	case *betweenExpr:
		return mentions(e.x, name) || mentions(e.lo, name) || mentions(e.hi, name)
	}
	return false
}

// isTime reports whether e is the bare time column.
func isTime(e expr) bool {
	id, ok := e.(*identExpr)
	return ok && id.name == timeColumn
}

// constTime folds e to a datetime constant.
func constTime(c *ectx, e expr) (time.Time, bool) {
	if mentions(e, timeColumn) {
		return time.Time{}, false
	}
	x, err := c.expr(e)
	if err != nil {
		return time.Time{}, false
	}
	t, ok := x.cval.(time.Time)
	return t, ok
}

// timeBound turns a conjunct that compares TimeGenerated with a constant
// (<, <=, >, >=, between) into the microseconds it admits. Stored times
// have microsecond precision and the log's SQL compares them with the
// constant truncated to the microsecond, so the bounds here are too.
func timeBound(c *ectx, e expr) (span, error) {
	all := span{unboundedLo, unboundedHi}
	switch e := e.(type) {
	case *binaryExpr:
		op, other := e.op, e.r
		if !isTime(e.l) {
			if !isTime(e.r) {
				return all, errNoRollup
			}
			other = e.l
			op = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
		}
		v, ok := constTime(c, other)
		if !ok {
			return all, errNoRollup
		}
		us := v.UnixMicro()
		switch op {
		case ">=":
			return span{us, unboundedHi}, nil
		case ">":
			return span{us + 1, unboundedHi}, nil
		case "<":
			return span{unboundedLo, us}, nil
		case "<=":
			return span{unboundedLo, us + 1}, nil
		}
	case *betweenExpr:
		if e.not || !isTime(e.x) {
			return all, errNoRollup
		}
		lo, ok := constTime(c, e.lo)
		if !ok {
			return all, errNoRollup
		}
		hi, ok := constTime(c, e.hi)
		if !ok {
			d, isSpan := constSpan(c, e.hi)
			if !isSpan {
				return all, errNoRollup
			}
			hi = lo.Add(d)
		}
		return span{lo.UnixMicro(), hi.UnixMicro() + 1}, nil
	}
	return all, errNoRollup
}

// timeBin returns the bucket size of a key that is bin(TimeGenerated, size)
// or floor(TimeGenerated, size) with a constant positive size.
func timeBin(c *ectx, e expr) (time.Duration, error) {
	call, ok := e.(*callExpr)
	if !ok || (call.name != "bin" && call.name != "floor") || len(call.args) != 2 || !isTime(call.args[0]) {
		return 0, errNoRollup
	}
	d, ok := constSpan(c, call.args[1])
	if !ok || d <= 0 {
		return 0, errNoRollup
	}
	return d, nil
}

func constSpan(c *ectx, e expr) (time.Duration, bool) {
	if mentions(e, timeColumn) {
		return 0, false
	}
	x, err := c.expr(e)
	if err != nil {
		return 0, false
	}
	d, ok := x.cval.(time.Duration)
	return d, ok
}

// floorTo and ceilTo round microseconds to a multiple of g, leaving the
// unbounded ends as they are.
func floorTo(us int64, g time.Duration) int64 {
	if us == unboundedLo || us == unboundedHi {
		return us
	}
	n := int64(g / time.Microsecond)
	q := us / n
	if us%n != 0 && us < 0 {
		q--
	}
	return q * n
}

func ceilTo(us int64, g time.Duration) int64 {
	if us == unboundedLo || us == unboundedHi {
		return us
	}
	f := floorTo(us, g)
	if f < us {
		f += int64(g / time.Microsecond)
	}
	return f
}
