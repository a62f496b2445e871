package kql

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// builder turns a parsed query into SQL for one dialect. SQL fragments carry
// parameter markers ("\x00<index>\x00") instead of placeholders, because
// inlining and subqueries change the textual order of parameters; bind
// numbers them once the statement is complete.
type builder struct {
	d      Dialect
	now    time.Time
	src    string
	args   []any // marker index -> driver value
	nalias int
	nhide  int
	opts   Options
	roll   *rollupAgg // set while a summarize over the rollup compiles
}

// column is one visible column of a relation: its KQL name, type and the
// SQL expression computing it over the relation's FROM source.
type column struct {
	name string
	t    typ
	sql  string
	pos  int // where it was defined, for errors about it
}

// orderItem is one ORDER BY term.
type orderItem struct {
	sql        string
	desc       bool
	nullsFirst bool
}

// sel is one SELECT under construction. Operators merge into the current
// sel while SQL allows it and wrap it into a subquery when not.
type sel struct {
	table    string // FROM this table, or
	sub      *sel   // FROM this subquery, or
	union    []*sel // FROM (these UNION ALL), each over a table
	alias    string // the FROM item's alias; column SQL is qualified with it
	cols     []column
	hidden   []column // extra select-list items: carried sort keys, windows
	where    []string
	grouped  bool // aggregate select; the first nkeys columns are GROUP BY keys
	nkeys    int
	distinct bool
	order    []orderItem
	limit    int64 // -1 when none
}

func (b *builder) errorf(pos int, format string, args ...any) error {
	return newError(b.src, pos, fmt.Sprintf(format, args...))
}

// quoteIdent quotes a schema name, a validated KQL name or an internal
// alias; none of them can contain a double quote.
func quoteIdent(s string) string { return `"` + s + `"` }

func qualify(alias, name string) string { return quoteIdent(alias) + "." + quoteIdent(name) }

func (b *builder) newAlias() string {
	a := "t" + strconv.Itoa(b.nalias)
	b.nalias++
	return a
}

// hiddenName returns a fresh internal column name; user names may not start
// with "__", so it cannot collide.
func (b *builder) hiddenName(kind string) string {
	b.nhide++
	return "__" + kind + strconv.Itoa(b.nhide)
}

// base is the SELECT over the request-log table.
func (b *builder) base(pos int) *sel {
	alias := b.newAlias()
	s := &sel{table: reqlog.SQLTable, alias: alias, limit: -1}
	for _, c := range schema() {
		if b.opts.HideContent && c.content {
			continue
		}
		s.cols = append(s.cols, column{name: c.kql, t: c.t, sql: qualify(alias, c.sql), pos: pos})
	}
	return s
}

// lookup finds a visible column by its case-sensitive KQL name.
func (s *sel) lookup(name string) (column, int, bool) {
	for i, c := range s.cols {
		if c.name == name {
			return c, i, true
		}
	}
	return column{}, -1, false
}

// wrap turns s into a subquery and returns a pass-through SELECT over it.
// With keepOrder the sort order of s survives: its keys become hidden
// columns of the subquery and the ORDER BY of the new SELECT.
func (b *builder) wrap(s *sel, keepOrder bool) *sel {
	alias := b.newAlias()
	inner := *s
	inner.hidden = append([]column(nil), s.hidden...)
	out := &sel{alias: alias, limit: -1}
	if keepOrder {
		for _, o := range s.order {
			h := b.hiddenName("o")
			inner.hidden = append(inner.hidden, column{name: h, sql: o.sql})
			out.order = append(out.order, orderItem{sql: qualify(alias, h), desc: o.desc, nullsFirst: o.nullsFirst})
		}
	}
	if inner.limit < 0 {
		inner.order = nil // an ORDER BY without LIMIT means nothing in a subquery
	}
	out.sub = &inner
	for _, c := range s.cols {
		out.cols = append(out.cols, column{name: c.name, t: c.t, sql: qualify(alias, c.name), pos: c.pos})
	}
	return out
}

// source returns an empty SELECT reading from the same FROM item as s.
func (s *sel) source() *sel {
	return &sel{table: s.table, sub: s.sub, union: s.union, alias: s.alias, limit: -1}
}

// prune drops the columns of subqueries that nothing above them reads, so
// wide columns (request bodies) are not carried through every level. The
// keys of a grouped subquery stay (GROUP BY uses their positions) and a
// DISTINCT subquery keeps all its columns (they define its rows).
func prune(s *sel) {
	for ; s.sub != nil; s = s.sub {
		text := s.usedText()
		inner := s.sub
		isUsed := func(name string) bool { return strings.Contains(text, qualify(s.alias, name)) }
		var hidden []column
		for _, c := range inner.hidden {
			if isUsed(c.name) {
				hidden = append(hidden, c)
			}
		}
		inner.hidden = hidden
		if inner.distinct {
			continue
		}
		var cols []column
		for i, c := range inner.cols {
			if (inner.grouped && i < inner.nkeys) || isUsed(c.name) {
				cols = append(cols, c)
			}
		}
		if len(cols) == 0 && len(hidden) == 0 {
			cols = inner.cols[:1] // a SELECT needs at least one column
		}
		inner.cols = cols
	}
	if len(s.union) > 0 {
		// The branches have the same columns in the same order.
		text := s.usedText()
		var keep []int
		for i, c := range s.union[0].cols {
			if strings.Contains(text, qualify(s.alias, c.name)) {
				keep = append(keep, i)
			}
		}
		if len(keep) == 0 {
			keep = []int{0}
		}
		for _, br := range s.union {
			cols := make([]column, len(keep))
			for j, i := range keep {
				cols[j] = br.cols[i]
			}
			br.cols = cols
		}
	}
}

// usedText is the SQL of everything s computes, to tell which columns of
// its FROM item it reads.
func (s *sel) usedText() string {
	var used strings.Builder
	for _, list := range [][]column{s.cols, s.hidden} {
		for _, c := range list {
			used.WriteString(c.sql + "\n")
		}
	}
	for _, w := range s.where {
		used.WriteString(w + "\n")
	}
	for _, o := range s.order {
		used.WriteString(o.sql + "\n")
	}
	return used.String()
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

// render writes s as SQL with parameter markers.
func (b *builder) render(s *sel) string {
	var sb strings.Builder
	sb.WriteString("SELECT ")
	if s.distinct {
		sb.WriteString("DISTINCT ")
	}
	n := 0
	for _, list := range [][]column{s.cols, s.hidden} {
		for _, c := range list {
			if n > 0 {
				sb.WriteString(", ")
			}
			n++
			sb.WriteString(c.sql + " AS " + quoteIdent(c.name))
		}
	}
	switch {
	case s.sub != nil:
		sb.WriteString("\nFROM (\n" + indent(b.render(s.sub)) + "\n) AS " + quoteIdent(s.alias))
	case len(s.union) > 0:
		parts := make([]string, len(s.union))
		for i, br := range s.union {
			parts[i] = indent(b.render(br))
		}
		sb.WriteString("\nFROM (\n" + strings.Join(parts, "\n  UNION ALL\n") + "\n) AS " + quoteIdent(s.alias))
	default:
		sb.WriteString("\nFROM " + quoteIdent(s.table) + " AS " + quoteIdent(s.alias))
	}
	if len(s.where) > 0 {
		sb.WriteString("\nWHERE " + strings.Join(s.where, " AND "))
	}
	if s.grouped && s.nkeys > 0 {
		keys := make([]string, s.nkeys)
		for i := range keys {
			keys[i] = strconv.Itoa(i + 1)
		}
		sb.WriteString("\nGROUP BY " + strings.Join(keys, ", "))
	}
	if len(s.order) > 0 {
		items := make([]string, len(s.order))
		for i, o := range s.order {
			items[i] = o.sql + orderSuffix(o)
		}
		sb.WriteString("\nORDER BY " + strings.Join(items, ", "))
	}
	if s.limit >= 0 {
		sb.WriteString("\nLIMIT " + b.param(s.limit))
	}
	return sb.String()
}

// orderSuffix spells direction and null placement explicitly: SQLite and
// PostgreSQL disagree on the default null placement, KQL puts nulls first
// when ascending and last when descending.
func orderSuffix(o orderItem) string {
	s := " ASC"
	if o.desc {
		s = " DESC"
	}
	if o.nullsFirst {
		return s + " NULLS FIRST"
	}
	return s + " NULLS LAST"
}

// param records a bound value and returns its marker, typed for the
// dialect: PostgreSQL gets explicit casts because it cannot infer the type
// of a bare parameter in expressions like "$1 + $2". v is int64, float64,
// string, bool, time.Time or time.Duration.
func (b *builder) param(v any) string {
	m := "\x00" + strconv.Itoa(len(b.args)) + "\x00"
	if b.d == SQLite {
		switch x := v.(type) {
		case bool:
			v = int64(0)
			if x {
				v = int64(1)
			}
		case time.Time:
			v = x.UTC().UnixMicro()
		case time.Duration:
			v = x.Microseconds()
		}
		b.args = append(b.args, v)
		return m
	}
	var out string
	switch x := v.(type) {
	case int64:
		out = m + "::bigint"
	case float64:
		out = m + "::double precision"
	case string:
		out = m + "::text"
	case bool:
		out = m + "::boolean"
	case time.Time:
		v = x.UTC()
		out = m + "::timestamptz"
	case time.Duration:
		v = x.Seconds()
		out = "make_interval(secs => " + m + "::double precision)"
	default:
		panic(fmt.Sprintf("kql: unsupported parameter type %T", v))
	}
	b.args = append(b.args, v)
	return out
}

// bind replaces the markers in text by placeholders and collects the
// arguments in placeholder order. PostgreSQL reuses "$n" for a repeated
// marker; SQLite repeats the value for every "?".
func (b *builder) bind(text string) (string, []any, error) {
	var sb strings.Builder
	sb.Grow(len(text))
	var args []any
	pg := map[int]int{}
	for i := 0; i < len(text); {
		c := text[i]
		if c != 0 {
			sb.WriteByte(c)
			i++
			continue
		}
		j := i + 1 + strings.IndexByte(text[i+1:], 0)
		idx, err := strconv.Atoi(text[i+1 : j])
		if err != nil || idx >= len(b.args) {
			return "", nil, fmt.Errorf("bind kql parameters: bad marker at %d", i)
		}
		i = j + 1
		if b.d == SQLite {
			sb.WriteByte('?')
			args = append(args, b.args[idx])
			continue
		}
		n, ok := pg[idx]
		if !ok {
			args = append(args, b.args[idx])
			n = len(args)
			pg[idx] = n
		}
		sb.WriteString("$" + strconv.Itoa(n))
	}
	if len(args) > maxArgs {
		return "", nil, &Error{Line: 1, Col: 1, Msg: fmt.Sprintf("query needs more than %d parameters", maxArgs)}
	}
	return sb.String(), args, nil
}
