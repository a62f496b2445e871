package kql

import (
	"strings"
	"time"
)

// sqlExpr is a compiled scalar expression. Its SQL is always atomic (a
// name, a parameter, a call or parenthesized), so it can be inlined anywhere.
type sqlExpr struct {
	sql  string
	t    typ
	cval any  // the value of a constant expression, nil otherwise
	agg  bool // contains an aggregation function
}

// ectx compiles expressions over the visible columns of one SELECT.
type ectx struct {
	b     *builder
	s     *sel
	aggs  bool // aggregation functions allowed (summarize items)
	inAgg bool // inside the arguments of an aggregation function
}

func (c *ectx) errorf(pos int, format string, args ...any) error {
	return c.b.errorf(pos, format, args...)
}

func (c *ectx) expr(e expr) (sqlExpr, error) {
	switch e := e.(type) {
	case *identExpr:
		return c.ident(e)
	case *litExpr:
		return c.lit(e.val), nil
	case *unaryExpr:
		return c.unary(e)
	case *binaryExpr:
		return c.binary(e)
	case *callExpr:
		return c.call(e)
	case *inExpr:
		return c.in(e)
	case *betweenExpr:
		return c.between(e)
	}
	return sqlExpr{}, c.errorf(e.exprPos(), "unsupported expression")
}

// lit binds a constant.
func (c *ectx) lit(v any) sqlExpr {
	var t typ
	switch v.(type) {
	case int64:
		t = tLong
	case float64:
		t = tReal
	case string:
		t = tString
	case bool:
		t = tBool
	case time.Time:
		t = tDatetime
	case time.Duration:
		t = tTimespan
	}
	return sqlExpr{sql: c.b.param(v), t: t, cval: v}
}

func (c *ectx) ident(e *identExpr) (sqlExpr, error) {
	col, _, ok := c.s.lookup(e.name)
	if !ok {
		return sqlExpr{}, unknownColumn(c.b, c.s, e.name, e.pos)
	}
	if c.aggs && !c.inAgg {
		return sqlExpr{}, c.errorf(e.pos, "column %q must be inside an aggregation function (or in the by clause)", e.name)
	}
	return sqlExpr{sql: col.sql, t: col.t}, nil
}

// unknownColumn reports an unknown name, suggesting a column that differs
// only in case.
func unknownColumn(b *builder, s *sel, name string, pos int) error {
	if b.opts.HideContent {
		for _, c := range schema() {
			if c.content && strings.EqualFold(c.kql, name) {
				return b.errorf(pos, "column %q holds prompt content: reading it needs the Moat/logs/content/read permission", c.kql)
			}
		}
	}
	for _, c := range s.cols {
		if strings.EqualFold(c.name, name) {
			return b.errorf(pos, "unknown column %q (did you mean %q?)", name, c.name)
		}
	}
	return b.errorf(pos, "unknown column %q", name)
}

func (c *ectx) unary(e *unaryExpr) (sqlExpr, error) {
	x, err := c.expr(e.x)
	if err != nil {
		return sqlExpr{}, err
	}
	if !x.t.numeric() && x.t != tTimespan {
		return sqlExpr{}, c.errorf(e.pos, "unary %s needs a number or timespan, got %s", e.op, x.t)
	}
	if e.op == "+" {
		return x, nil
	}
	switch v := x.cval.(type) {
	case int64:
		if v != -v || v == 0 {
			return c.lit(-v), nil
		}
	case float64:
		return c.lit(-v), nil
	case time.Duration:
		return c.lit(-v), nil
	}
	return sqlExpr{sql: "(-" + x.sql + ")", t: x.t, agg: x.agg}, nil
}

func (c *ectx) binary(e *binaryExpr) (sqlExpr, error) {
	l, err := c.expr(e.l)
	if err != nil {
		return sqlExpr{}, err
	}
	r, err := c.expr(e.r)
	if err != nil {
		return sqlExpr{}, err
	}
	switch e.op {
	case "and", "or":
		if l.t != tBool || r.t != tBool {
			return sqlExpr{}, c.errorf(e.pos, "%s needs boolean operands, got %s and %s", e.op, l.t, r.t)
		}
		return c.combine("("+l.sql+" "+strings.ToUpper(e.op)+" "+r.sql+")", tBool, l, r), nil
	case "+", "-", "*", "/", "%":
		return c.arith(e, l, r)
	case "==", "!=", "<", "<=", ">", ">=":
		if !comparable(l.t, r.t) {
			return sqlExpr{}, c.errorf(e.pos, "cannot compare %s with %s", l.t, r.t)
		}
		op := map[string]string{"==": "=", "!=": "<>"}[e.op]
		if op == "" {
			op = e.op
		}
		return c.combine("("+l.sql+" "+op+" "+r.sql+")", tBool, l, r), nil
	case "matches regex":
		if c.b.d == SQLite {
			return sqlExpr{}, c.errorf(e.pos, `"matches regex" is not supported on SQLite`)
		}
		if l.t != tString || r.t != tString {
			return sqlExpr{}, c.errorf(e.pos, "matches regex needs string operands, got %s and %s", l.t, r.t)
		}
		return c.combine("("+l.sql+" ~ "+r.sql+")", tBool, l, r), nil
	}
	return c.stringOp(e, l, r)
}

// combine builds a binary result, carrying the aggregation flag.
func (c *ectx) combine(sql string, t typ, l, r sqlExpr) sqlExpr {
	return sqlExpr{sql: sql, t: t, agg: l.agg || r.agg}
}

// comparable reports whether values of a and b can be compared.
func comparable(a, b typ) bool { return a == b || (a.numeric() && b.numeric()) }

func (c *ectx) arith(e *binaryExpr, l, r sqlExpr) (sqlExpr, error) {
	if v, ok := foldTime(e.op, l.cval, r.cval); ok {
		return c.lit(v), nil
	}
	op := e.op
	pg := c.b.d == Postgres
	switch {
	case l.t.numeric() && r.t.numeric():
		t := tLong
		if l.t == tReal || r.t == tReal {
			t = tReal
		}
		switch op {
		case "/":
			return c.combine("("+l.sql+" / NULLIF("+r.sql+", 0))", t, l, r), nil
		case "%":
			if t != tLong {
				return sqlExpr{}, c.errorf(e.pos, "%% needs long operands, got %s and %s", l.t, r.t)
			}
			return c.combine("("+l.sql+" % NULLIF("+r.sql+", 0))", t, l, r), nil
		}
		return c.combine("("+l.sql+" "+op+" "+r.sql+")", t, l, r), nil
	case l.t == tDatetime && r.t == tTimespan && (op == "+" || op == "-"),
		l.t == tTimespan && r.t == tDatetime && op == "+":
		return c.combine("("+l.sql+" "+op+" "+r.sql+")", tDatetime, l, r), nil
	case l.t == tDatetime && r.t == tDatetime && op == "-",
		l.t == tTimespan && r.t == tTimespan && (op == "+" || op == "-"):
		return c.combine("("+l.sql+" "+op+" "+r.sql+")", tTimespan, l, r), nil
	case l.t == tTimespan && r.t == tTimespan && op == "/":
		if pg {
			return c.combine("(CAST(EXTRACT(EPOCH FROM "+l.sql+") AS double precision) / NULLIF(CAST(EXTRACT(EPOCH FROM "+r.sql+") AS double precision), 0))", tReal, l, r), nil
		}
		return c.combine("(CAST("+l.sql+" AS REAL) / NULLIF("+r.sql+", 0))", tReal, l, r), nil
	case (l.t == tTimespan && r.t.numeric() && (op == "*" || op == "/")) ||
		(l.t.numeric() && r.t == tTimespan && op == "*"):
		rs := r.sql
		if op == "/" {
			rs = "NULLIF(" + rs + ", 0)"
		}
		if pg {
			return c.combine("("+l.sql+" "+op+" "+rs+")", tTimespan, l, r), nil
		}
		return c.combine("CAST("+l.sql+" "+op+" "+rs+" AS INTEGER)", tTimespan, l, r), nil
	}
	return sqlExpr{}, c.errorf(e.pos, "operator %s cannot be applied to %s and %s", op, l.t, r.t)
}

// foldTime evaluates datetime/timespan arithmetic on constants (now() - 1h),
// so the database compares a column with one bound value.
func foldTime(op string, l, r any) (any, bool) {
	switch lv := l.(type) {
	case time.Time:
		switch rv := r.(type) {
		case time.Duration:
			if op == "+" {
				return lv.Add(rv), true
			}
			if op == "-" {
				return lv.Add(-rv), true
			}
		case time.Time:
			if op == "-" {
				return lv.Sub(rv), true
			}
		}
	case time.Duration:
		switch rv := r.(type) {
		case time.Duration:
			if op == "+" {
				return lv + rv, true
			}
			if op == "-" {
				return lv - rv, true
			}
		case time.Time:
			if op == "+" {
				return rv.Add(lv), true
			}
		}
	}
	return nil, false
}

func (c *ectx) in(e *inExpr) (sqlExpr, error) {
	x, err := c.expr(e.x)
	if err != nil {
		return sqlExpr{}, err
	}
	if e.ci && x.t != tString {
		return sqlExpr{}, c.errorf(e.pos, "in~ needs a string, got %s", x.t)
	}
	res := sqlExpr{t: tBool, agg: x.agg}
	items := make([]string, len(e.list))
	for i, it := range e.list {
		v, err := c.expr(it)
		if err != nil {
			return sqlExpr{}, err
		}
		if !comparable(x.t, v.t) {
			return sqlExpr{}, c.errorf(it.exprPos(), "cannot compare %s with %s in list", x.t, v.t)
		}
		res.agg = res.agg || v.agg
		items[i] = v.sql
		if e.ci {
			items[i] = "lower(" + v.sql + ")"
		}
	}
	lhs := x.sql
	if e.ci {
		lhs = "lower(" + x.sql + ")"
	}
	op := " IN ("
	if e.not {
		op = " NOT IN ("
	}
	res.sql = "(" + lhs + op + strings.Join(items, ", ") + "))"
	return res, nil
}

func (c *ectx) between(e *betweenExpr) (sqlExpr, error) {
	x, err := c.expr(e.x)
	if err != nil {
		return sqlExpr{}, err
	}
	lo, err := c.expr(e.lo)
	if err != nil {
		return sqlExpr{}, err
	}
	hi, err := c.expr(e.hi)
	if err != nil {
		return sqlExpr{}, err
	}
	if x.t == tDatetime && lo.t == tDatetime && hi.t == tTimespan {
		// datetime(…) .. 1d means from the start for that long.
		hi, err = c.arith(&binaryExpr{pos: e.hi.exprPos(), op: "+", l: e.lo, r: e.hi}, lo, hi)
		if err != nil {
			return sqlExpr{}, err
		}
	}
	if !comparable(x.t, lo.t) || !comparable(x.t, hi.t) {
		return sqlExpr{}, c.errorf(e.pos, "between needs bounds of type %s, got %s and %s", x.t, lo.t, hi.t)
	}
	op := " BETWEEN "
	if e.not {
		op = " NOT BETWEEN "
	}
	return sqlExpr{sql: "(" + x.sql + op + lo.sql + " AND " + hi.sql + ")", t: tBool, agg: x.agg || lo.agg || hi.agg}, nil
}
