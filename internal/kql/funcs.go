package kql

import (
	"strings"
	"time"
)

// scalarFunc compiles a call to a scalar function whose arguments are
// already compiled.
type scalarFunc func(c *ectx, e *callExpr, args []sqlExpr) (sqlExpr, error)

// scalarFuncs are the supported scalar functions with their arities
// (max -1: variadic).
var scalarFuncs = map[string]struct {
	min, max int
	fn       scalarFunc
}{
	"not":        {1, 1, fnNot},
	"iff":        {3, 3, fnIff},
	"iif":        {3, 3, fnIff},
	"case":       {3, -1, fnCase},
	"tolower":    {1, 1, fnLowerUpper("lower")},
	"toupper":    {1, 1, fnLowerUpper("upper")},
	"strlen":     {1, 1, fnStrlen},
	"strcat":     {1, -1, fnStrcat},
	"round":      {1, 2, fnRound},
	"abs":        {1, 1, fnAbs},
	"isempty":    {1, 1, fnIsEmpty(false)},
	"isnotempty": {1, 1, fnIsEmpty(true)},
	"isnull":     {1, 1, fnIsNull(false)},
	"isnotnull":  {1, 1, fnIsNull(true)},
	"tostring":   {1, 1, fnToString},
	"toint":      {1, 1, fnToLong},
	"tolong":     {1, 1, fnToLong},
	"todouble":   {1, 1, fnToReal},
	"toreal":     {1, 1, fnToReal},
	"bin":        {2, 2, fnBin},
	"floor":      {2, 2, fnBin},
}

func (c *ectx) call(e *callExpr) (sqlExpr, error) {
	switch e.name {
	case "now", "ago", "todatetime":
		return c.timeConst(e)
	}
	if _, ok := aggFuncs[e.name]; ok {
		return c.aggCall(e)
	}
	if e.name == "percentiles" {
		return sqlExpr{}, c.errorf(e.pos, "percentiles() must be a whole summarize item; use percentile(x, p) inside expressions")
	}
	f, ok := scalarFuncs[e.name]
	if !ok {
		return sqlExpr{}, c.errorf(e.pos, "unknown function %q", e.name)
	}
	if len(e.args) < f.min || (f.max >= 0 && len(e.args) > f.max) {
		return sqlExpr{}, c.errorf(e.pos, "%s() takes %s", e.name, arity(f.min, f.max))
	}
	args := make([]sqlExpr, len(e.args))
	for i, a := range e.args {
		x, err := c.expr(a)
		if err != nil {
			return sqlExpr{}, err
		}
		args[i] = x
	}
	res, err := f.fn(c, e, args)
	if err != nil {
		return sqlExpr{}, err
	}
	for _, a := range args {
		res.agg = res.agg || a.agg
	}
	return res, nil
}

func arity(lo, hi int) string {
	switch {
	case hi < 0:
		return "at least " + itoa(lo) + " arguments"
	case lo == hi && lo == 1:
		return "1 argument"
	case lo == hi:
		return itoa(lo) + " arguments"
	}
	return itoa(lo) + " to " + itoa(hi) + " arguments"
}

// timeConst evaluates now([offset]), ago(span) and todatetime("…") at
// compile time against the now passed to Compile.
func (c *ectx) timeConst(e *callExpr) (sqlExpr, error) {
	var args []sqlExpr
	for _, a := range e.args {
		x, err := c.expr(a)
		if err != nil {
			return sqlExpr{}, err
		}
		args = append(args, x)
	}
	switch e.name {
	case "now":
		if len(args) == 0 {
			return c.lit(c.b.now), nil
		}
		if d, ok := args[0].cval.(time.Duration); ok && len(args) == 1 {
			return c.lit(c.b.now.Add(d)), nil
		}
		return sqlExpr{}, c.errorf(e.pos, "now() takes no argument or a constant timespan")
	case "ago":
		if len(args) == 1 {
			if d, ok := args[0].cval.(time.Duration); ok {
				return c.lit(c.b.now.Add(-d)), nil
			}
		}
		return sqlExpr{}, c.errorf(e.pos, "ago() takes one constant timespan, like ago(1h)")
	}
	if len(args) == 1 {
		if s, ok := args[0].cval.(string); ok {
			t, err := parseDatetime(strings.TrimSpace(s))
			if err != nil {
				return sqlExpr{}, c.errorf(e.args[0].exprPos(), "invalid datetime %q", s)
			}
			return c.lit(t), nil
		}
		if args[0].t == tDatetime {
			return args[0], nil
		}
	}
	return sqlExpr{}, c.errorf(e.pos, "todatetime() takes one string literal")
}

func fnNot(c *ectx, e *callExpr, a []sqlExpr) (sqlExpr, error) {
	if a[0].t != tBool {
		return sqlExpr{}, c.errorf(e.pos, "not() needs a boolean, got %s", a[0].t)
	}
	return sqlExpr{sql: "(NOT " + a[0].sql + ")", t: tBool}, nil
}

// unify returns the common type of branch values: equal types, or real
// when numbers mix.
func unify(a, b typ) (typ, bool) {
	switch {
	case a == b:
		return a, true
	case a.numeric() && b.numeric():
		return tReal, true
	}
	return 0, false
}

func fnIff(c *ectx, e *callExpr, a []sqlExpr) (sqlExpr, error) {
	return fnCase(c, e, a)
}

func fnCase(c *ectx, e *callExpr, a []sqlExpr) (sqlExpr, error) {
	if len(a)%2 == 0 {
		return sqlExpr{}, c.errorf(e.pos, "%s() needs predicate/value pairs and a final else value", e.name)
	}
	t := a[len(a)-1].t
	var sb strings.Builder
	sb.WriteString("(CASE")
	for i := 0; i+1 < len(a); i += 2 {
		if a[i].t != tBool {
			return sqlExpr{}, c.errorf(e.args[i].exprPos(), "%s() condition must be boolean, got %s", e.name, a[i].t)
		}
		var ok bool
		if t, ok = unify(t, a[i+1].t); !ok {
			return sqlExpr{}, c.errorf(e.args[i+1].exprPos(), "%s() branches have different types", e.name)
		}
		sb.WriteString(" WHEN " + a[i].sql + " THEN " + a[i+1].sql)
	}
	sb.WriteString(" ELSE " + a[len(a)-1].sql + " END)")
	return sqlExpr{sql: sb.String(), t: t}, nil
}

func fnLowerUpper(fn string) scalarFunc {
	return func(c *ectx, e *callExpr, a []sqlExpr) (sqlExpr, error) {
		x, err := c.asString(e.pos, a[0])
		if err != nil {
			return sqlExpr{}, err
		}
		return sqlExpr{sql: fn + "(" + x.sql + ")", t: tString}, nil
	}
}

func fnStrlen(c *ectx, e *callExpr, a []sqlExpr) (sqlExpr, error) {
	x, err := c.asString(e.pos, a[0])
	if err != nil {
		return sqlExpr{}, err
	}
	return sqlExpr{sql: "length(" + x.sql + ")", t: tLong}, nil
}

func fnStrcat(c *ectx, e *callExpr, a []sqlExpr) (sqlExpr, error) {
	parts := make([]string, len(a))
	for i, x := range a {
		s, err := c.asString(e.args[i].exprPos(), x)
		if err != nil {
			return sqlExpr{}, err
		}
		parts[i] = s.sql
	}
	return sqlExpr{sql: "(" + strings.Join(parts, " || ") + ")", t: tString}, nil
}

func fnRound(c *ectx, e *callExpr, a []sqlExpr) (sqlExpr, error) {
	if !a[0].t.numeric() {
		return sqlExpr{}, c.errorf(e.pos, "round() needs a number, got %s", a[0].t)
	}
	if len(a) == 2 && a[1].t != tLong {
		return sqlExpr{}, c.errorf(e.args[1].exprPos(), "round() precision must be a long, got %s", a[1].t)
	}
	if c.b.d == SQLite {
		if len(a) == 2 {
			return sqlExpr{sql: "round(" + a[0].sql + ", " + a[1].sql + ")", t: tReal}, nil
		}
		return sqlExpr{sql: "round(" + a[0].sql + ")", t: tReal}, nil
	}
	// PostgreSQL rounds double precision only to integers; numeric rounds
	// half away from zero like SQLite.
	x := "CAST(" + a[0].sql + " AS numeric)"
	if len(a) == 2 {
		x += ", CAST(" + a[1].sql + " AS integer)"
	}
	return sqlExpr{sql: "CAST(round(" + x + ") AS double precision)", t: tReal}, nil
}

func fnAbs(c *ectx, e *callExpr, a []sqlExpr) (sqlExpr, error) {
	if !a[0].t.numeric() {
		return sqlExpr{}, c.errorf(e.pos, "abs() needs a number, got %s", a[0].t)
	}
	return sqlExpr{sql: "abs(" + a[0].sql + ")", t: a[0].t}, nil
}

func fnIsEmpty(negate bool) scalarFunc {
	return func(c *ectx, e *callExpr, a []sqlExpr) (sqlExpr, error) {
		x := a[0].sql
		switch {
		case a[0].t == tString && negate:
			return sqlExpr{sql: "(" + x + " IS NOT NULL AND length(" + x + ") > 0)", t: tBool}, nil
		case a[0].t == tString:
			return sqlExpr{sql: "(" + x + " IS NULL OR length(" + x + ") = 0)", t: tBool}, nil
		}
		return fnIsNull(negate)(c, e, a)
	}
}

func fnIsNull(negate bool) scalarFunc {
	return func(c *ectx, e *callExpr, a []sqlExpr) (sqlExpr, error) {
		if negate {
			return sqlExpr{sql: "(" + a[0].sql + " IS NOT NULL)", t: tBool}, nil
		}
		return sqlExpr{sql: "(" + a[0].sql + " IS NULL)", t: tBool}, nil
	}
}

func fnToString(c *ectx, e *callExpr, a []sqlExpr) (sqlExpr, error) { return c.toString(e.pos, a[0]) }

// toString converts like KQL's tostring: booleans become "true"/"false",
// datetimes ISO 8601 UTC with seconds ("2026-01-02T03:04:05Z").
func (c *ectx) toString(pos int, x sqlExpr) (sqlExpr, error) {
	pg := c.b.d == Postgres
	var sql string
	switch x.t {
	case tString:
		return x, nil
	case tLong, tReal:
		sql = "CAST(" + x.sql + " AS TEXT)"
		if pg {
			sql = "CAST(" + x.sql + " AS text)"
		}
	case tBool:
		sql = "(CASE WHEN " + x.sql + " THEN " + c.b.param("true") + " ELSE " + c.b.param("false") + " END)"
	case tDatetime:
		if pg {
			sql = "to_char(" + x.sql + " AT TIME ZONE " + c.b.param("UTC") + ", " + c.b.param(`YYYY-MM-DD"T"HH24:MI:SS"Z"`) + ")"
		} else {
			sql = "strftime(" + c.b.param("%Y-%m-%dT%H:%M:%SZ") + ", " + x.sql + " / 1000000, " + c.b.param("unixepoch") + ")"
		}
	default:
		return sqlExpr{}, c.errorf(pos, "cannot convert %s to string", x.t)
	}
	return sqlExpr{sql: sql, t: tString, agg: x.agg}, nil
}

// fnToLong truncates like KQL's tolong. Invalid strings give 0 on SQLite
// and fail the query on PostgreSQL.
func fnToLong(c *ectx, e *callExpr, a []sqlExpr) (sqlExpr, error) {
	x := a[0]
	pg := c.b.d == Postgres
	switch {
	case x.t == tLong:
		return x, nil
	case !pg && (x.t == tReal || x.t == tString || x.t == tBool):
		return sqlExpr{sql: "CAST(" + x.sql + " AS INTEGER)", t: tLong}, nil
	case pg && x.t == tReal:
		return sqlExpr{sql: "CAST(trunc(" + x.sql + ") AS bigint)", t: tLong}, nil
	case pg && x.t == tString:
		return sqlExpr{sql: "CAST(trunc(CAST(" + x.sql + " AS double precision)) AS bigint)", t: tLong}, nil
	case pg && x.t == tBool:
		return sqlExpr{sql: "CAST(CAST(" + x.sql + " AS integer) AS bigint)", t: tLong}, nil
	}
	return sqlExpr{}, c.errorf(e.pos, "%s() cannot convert %s", e.name, x.t)
}

// fnToReal converts like KQL's todouble.
func fnToReal(c *ectx, e *callExpr, a []sqlExpr) (sqlExpr, error) {
	x := a[0]
	pg := c.b.d == Postgres
	switch {
	case x.t == tReal:
		return x, nil
	case !pg && (x.t == tLong || x.t == tString || x.t == tBool):
		return sqlExpr{sql: "CAST(" + x.sql + " AS REAL)", t: tReal}, nil
	case pg && (x.t == tLong || x.t == tString):
		return sqlExpr{sql: "CAST(" + x.sql + " AS double precision)", t: tReal}, nil
	case pg && x.t == tBool:
		return sqlExpr{sql: "CAST(CAST(" + x.sql + " AS integer) AS double precision)", t: tReal}, nil
	}
	return sqlExpr{}, c.errorf(e.pos, "%s() cannot convert %s", e.name, x.t)
}

// fnBin rounds down to a multiple of a constant size, as bin()/floor() do.
// Datetimes are binned from the Unix epoch.
func fnBin(c *ectx, e *callExpr, a []sqlExpr) (sqlExpr, error) {
	x, size := a[0], a[1]
	if size.cval == nil {
		return sqlExpr{}, c.errorf(e.args[1].exprPos(), "%s() size must be a constant", e.name)
	}
	pg := c.b.d == Postgres
	switch x.t {
	case tDatetime:
		d, ok := size.cval.(time.Duration)
		if !ok || d < time.Microsecond {
			return sqlExpr{}, c.errorf(e.args[1].exprPos(), "%s() of a datetime needs a positive timespan, like 5m", e.name)
		}
		if pg {
			return sqlExpr{sql: "date_bin(" + size.sql + ", " + x.sql + ", to_timestamp(0))", t: tDatetime}, nil
		}
		return sqlExpr{sql: floorDiv(x.sql, size.sql), t: tDatetime}, nil
	case tLong:
		if n, ok := size.cval.(int64); ok && n > 0 {
			return sqlExpr{sql: floorDiv(x.sql, size.sql), t: tLong}, nil
		}
		if f, ok := size.cval.(float64); ok && f > 0 {
			return sqlExpr{sql: "(floor(" + x.sql + " / " + size.sql + ") * " + size.sql + ")", t: tReal}, nil
		}
	case tReal:
		n, isLong := size.cval.(int64)
		f, isReal := size.cval.(float64)
		if (isLong && n > 0) || (isReal && f > 0) {
			return sqlExpr{sql: "(floor(" + x.sql + " / " + size.sql + ") * " + size.sql + ")", t: tReal}, nil
		}
	default:
		return sqlExpr{}, c.errorf(e.pos, "%s() needs a number or datetime, got %s", e.name, x.t)
	}
	return sqlExpr{}, c.errorf(e.args[1].exprPos(), "%s() size must be a positive number", e.name)
}

// floorDiv rounds the integer x down to a multiple of the positive integer
// n; SQL integer division truncates toward zero, so negative remainders
// step one bucket down.
func floorDiv(x, n string) string {
	return "((" + x + " / " + n + " - (CASE WHEN " + x + " % " + n + " < 0 THEN 1 ELSE 0 END)) * " + n + ")"
}
