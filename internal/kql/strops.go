package kql

import (
	"strings"
	"unicode/utf8"
)

// stringOp compiles =~, !~ and the contains/has/startswith/endswith family.
// Case-insensitive variants compare lower() of both sides; SQLite's lower()
// folds ASCII only, PostgreSQL's folds Unicode.
func (c *ectx) stringOp(e *binaryExpr, l, r sqlExpr) (sqlExpr, error) {
	op := e.op
	not := strings.HasPrefix(op, "!")
	op = strings.TrimPrefix(op, "!")
	cs := strings.HasSuffix(op, "_cs")
	op = strings.TrimSuffix(op, "_cs")
	if op == "~" { // !~
		op, not = "=~", true
	}
	ls, err := c.asString(e.pos, l)
	if err != nil {
		return sqlExpr{}, err
	}
	if r.t != tString {
		return sqlExpr{}, c.errorf(e.pos, "%s needs a string on the right, got %s", e.op, r.t)
	}
	lx, rx := ls.sql, r.sql
	if !cs {
		lx, rx = "lower("+lx+")", "lower("+rx+")"
	}
	pg := c.b.d == Postgres
	find := "instr(" + lx + ", " + rx + ")"
	if pg {
		find = "strpos(" + lx + ", " + rx + ")"
	}
	var sql string
	switch op {
	case "=~":
		sql = "(" + lx + " = " + rx + ")"
	case "contains":
		sql = "(" + find + " > 0)"
	case "startswith":
		sql = "(" + find + " = 1)"
	case "endswith":
		if pg {
			sql = "(right(" + lx + ", length(" + rx + ")) = " + rx + ")"
		} else {
			sql = "(substr(" + lx + ", length(" + lx + ") - length(" + rx + ") + 1) = " + rx + ")"
		}
	case "has":
		term, ok := r.cval.(string)
		if !ok {
			return sqlExpr{}, c.errorf(e.r.exprPos(), "%s needs a string literal on the right", e.op)
		}
		sql = c.has(ls.sql, term, cs)
	default:
		return sqlExpr{}, c.errorf(e.pos, "unsupported operator %q", e.op)
	}
	if not {
		sql = "(NOT " + sql + ")"
	}
	return sqlExpr{sql: sql, t: tBool, agg: l.agg || r.agg}, nil
}

// asString converts a non-string operand the way KQL does for string
// operators (ResponseCode startswith "4").
func (c *ectx) asString(pos int, x sqlExpr) (sqlExpr, error) {
	if x.t == tString {
		return x, nil
	}
	return c.toString(pos, x)
}

// has matches term as a whole term: where the term begins (ends) with an
// ASCII letter or digit, the text must not continue with one before (after)
// it. This approximates KQL's term index without one.
func (c *ectx) has(x, term string, cs bool) string {
	class := "[^a-z0-9]"
	if cs {
		class = "[^A-Za-z0-9]"
	} else if c.b.d == SQLite {
		term = asciiLower(term)
	} else {
		term = strings.ToLower(term)
	}
	first, _ := utf8.DecodeRuneInString(term)
	last, _ := utf8.DecodeLastRuneInString(term)
	if c.b.d == SQLite {
		pat := "*"
		if isAlnum(first) {
			pat += class
		}
		pat += globEscape(term)
		if isAlnum(last) {
			pat += class
		}
		pat += "*"
		if !cs {
			x = "lower(" + x + ")"
		}
		// Pad with spaces so a term at either end has a neighbour to test.
		return "((char(32) || " + x + " || char(32)) GLOB " + c.b.param(pat) + ")"
	}
	pat := ""
	if isAlnum(first) {
		pat = "(^|" + class + ")"
	}
	pat += regexpEscape(term)
	if isAlnum(last) {
		pat += "(" + class + "|$)"
	}
	if !cs {
		x = "lower(" + x + ")"
	}
	return "(" + x + " ~ " + c.b.param(pat) + ")"
}

func isAlnum(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// globEscape makes s literal inside a SQLite GLOB pattern.
func globEscape(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[':
			sb.WriteString("[" + string(r) + "]")
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// regexpEscape makes s literal inside a PostgreSQL regular expression: a
// backslash before any ASCII punctuation is a literal.
func regexpEscape(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if r < utf8.RuneSelf && !isAlnum(r) && r != ' ' {
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
