package kql

import (
	"strings"

	"github.com/moat-gw/moat/internal/reqlog"
)

// compile applies the pipeline to the base table and renders the result.
func (b *builder) compile(q *query) (*Query, error) {
	var s *sel
	ops, rolled := q.ops, false
	if b.opts.Rollup {
		if rs, n, ok := b.tryRollup(q); ok {
			s, ops, rolled = rs, q.ops[n:], true
		}
	}
	if s == nil {
		s = b.base(q.tablePos)
	}
	render := ""
	for _, op := range ops {
		var err error
		switch op := op.(type) {
		case *whereOp:
			s, err = b.where(s, op)
		case *projectOp:
			s, err = b.project(s, op)
		case *extendOp:
			s, err = b.extend(s, op)
		case *projectAwayOp:
			s, err = b.projectAway(s, op)
		case *projectRenameOp:
			s, err = b.projectRename(s, op)
		case *summarizeOp:
			s, err = b.summarize(s, op)
		case *distinctOp:
			s, err = b.distinct(s, op)
		case *countOp:
			s = b.count(s)
		case *takeOp:
			s = b.take(s, op.n)
		case *sortOp:
			s, err = b.sort(s, op.keys)
		case *topOp:
			if s, err = b.sort(s, []sortKey{op.key}); err == nil {
				s = b.take(s, op.n)
			}
		case *renderOp:
			render = op.kind
		}
		if err != nil {
			return nil, err
		}
	}
	out := make([]OutColumn, len(s.cols))
	for i, c := range s.cols {
		ct, ok := c.t.columnType()
		if !ok {
			return nil, b.errorf(c.pos, "column %q is a %s, which results cannot hold; divide it by a unit, e.g. %s / 1ms", c.name, c.t, c.name)
		}
		out[i] = OutColumn{Name: c.name, Type: ct}
	}
	s = b.take(s, MaxRows)
	prune(s)
	sql, args, err := b.bind(b.render(s))
	if err != nil {
		return nil, err
	}
	return &Query{SQL: sql, Args: args, Columns: out, Render: render, Dialect: b.d, Rollup: rolled,
		Content: readsContent(sql)}, nil
}

// readsContent reports whether sql reads a content column. Column
// identifiers in the SQL come only from the schema, quoted, and every
// literal is a parameter, so the quoted name cannot appear by accident.
func readsContent(sql string) bool {
	for _, c := range reqlog.Columns() {
		if c.Content() && strings.Contains(sql, quoteIdent(c.SQL)) {
			return true
		}
	}
	return false
}

// mergeable reports whether a row-level operator (where, sort, summarize…)
// can extend s itself instead of selecting from it.
func (s *sel) mergeable() bool { return !s.grouped && !s.distinct && s.limit < 0 }

func (b *builder) where(s *sel, op *whereOp) (*sel, error) {
	if !s.mergeable() {
		s = b.wrap(s, true) // where keeps the order of a sorted, limited input
	}
	c := &ectx{b: b, s: s}
	x, err := c.expr(op.pred)
	if err != nil {
		return nil, err
	}
	if x.t != tBool {
		return nil, b.errorf(op.pred.exprPos(), "where needs a boolean predicate, got %s", x.t)
	}
	s.where = append(s.where, x.sql)
	if hint := b.callerIndexHint(s, op.pred); hint != "" {
		s.where = append(s.where, hint)
	}
	return s, nil
}

// defaultName is the KQL name of an unnamed expression: a column keeps its
// name, bin(col, …) the column's, anything else becomes ColumnN.
func defaultName(e expr) string {
	switch e := e.(type) {
	case *identExpr:
		return e.name
	case *callExpr:
		if (e.name == "bin" || e.name == "floor") && len(e.args) == 2 {
			return argName(e.args[0])
		}
	}
	return ""
}

// namedColumn compiles "[name =] expr" into a column; an unnamed one gets
// its default name (defaultName, or ColumnN from the namer).
func (c *ectx) namedColumn(it namedExpr) (column, error) {
	x, err := c.expr(it.x)
	if err != nil {
		return column{}, err
	}
	col := column{name: it.name.name, t: x.t, sql: x.sql, pos: it.name.pos}
	if col.name == "" {
		col.name, col.pos = defaultName(it.x), it.x.exprPos()
	}
	return col, nil
}

// namer assigns output column names and rejects clashes. SQLite compares
// identifiers case-insensitively, so names may not differ only in case.
type namer struct {
	b      *builder
	cols   []column
	column int // last ColumnN used
}

// add appends c. An explicit name must be new; a derived one gets a numeric
// suffix when taken.
func (n *namer) add(c column, explicit bool) error {
	if strings.HasPrefix(c.name, "__") {
		return n.b.errorf(c.pos, "column names starting with __ are reserved")
	}
	if c.name == "" {
		for c.name == "" || n.taken(c.name) {
			n.column++
			c.name = "Column" + itoa(n.column)
		}
	}
	if n.taken(c.name) {
		if explicit {
			return n.b.errorf(c.pos, "duplicate column name %q", c.name)
		}
		base := c.name
		for i := 1; n.taken(c.name); i++ {
			c.name = base + itoa(i)
		}
	}
	n.cols = append(n.cols, c)
	return nil
}

func (n *namer) taken(name string) bool {
	for _, c := range n.cols {
		if strings.EqualFold(c.name, name) {
			return true
		}
	}
	return false
}

func (b *builder) project(s *sel, op *projectOp) (*sel, error) {
	if s.grouped || s.distinct {
		s = b.wrap(s, false)
	}
	c := &ectx{b: b, s: s}
	n := &namer{b: b}
	for _, it := range op.items {
		col, err := c.namedColumn(it)
		if err != nil {
			return nil, err
		}
		if err := n.add(col, it.name.name != ""); err != nil {
			return nil, err
		}
	}
	s.cols = n.cols
	return s, nil
}

// extend adds or replaces columns; each item sees the ones before it.
func (b *builder) extend(s *sel, op *extendOp) (*sel, error) {
	if s.grouped || s.distinct {
		s = b.wrap(s, false)
	}
	c := &ectx{b: b, s: s}
	for _, it := range op.items {
		col, err := c.namedColumn(it)
		if err != nil {
			return nil, err
		}
		if _, i, ok := s.lookup(col.name); ok {
			s.cols[i] = col
			continue
		}
		n := &namer{b: b, cols: s.cols}
		if err := n.add(col, it.name.name != ""); err != nil {
			return nil, err
		}
		s.cols = n.cols
	}
	return s, nil
}

func (b *builder) projectAway(s *sel, op *projectAwayOp) (*sel, error) {
	if s.grouped || s.distinct {
		s = b.wrap(s, false)
	}
	drop := map[string]bool{}
	for _, r := range op.cols {
		if _, _, ok := s.lookup(r.name); !ok {
			return nil, unknownColumn(b, s, r.name, r.pos)
		}
		drop[r.name] = true
	}
	var keep []column
	for _, c := range s.cols {
		if !drop[c.name] {
			keep = append(keep, c)
		}
	}
	if len(keep) == 0 {
		return nil, b.errorf(op.pos, "project-away removes every column")
	}
	s.cols = keep
	return s, nil
}

func (b *builder) projectRename(s *sel, op *projectRenameOp) (*sel, error) {
	cols := append([]column(nil), s.cols...)
	for _, p := range op.pairs {
		newName, old := p[0], p[1]
		i := -1
		for j, c := range cols {
			if c.name == old.name {
				i = j
			}
		}
		if i < 0 {
			return nil, unknownColumn(b, s, old.name, old.pos)
		}
		n := &namer{b: b}
		for j, c := range cols {
			if j != i {
				n.cols = append(n.cols, c)
			}
		}
		if err := n.add(column{name: newName.name, pos: newName.pos}, true); err != nil {
			return nil, err
		}
		cols[i].name, cols[i].pos = newName.name, newName.pos
	}
	s.cols = cols
	return s, nil
}

func (b *builder) distinct(s *sel, op *distinctOp) (*sel, error) {
	if !s.mergeable() {
		s = b.wrap(s, false)
	}
	s.order = nil
	if !op.all {
		var cols []column
		n := &namer{b: b}
		for _, r := range op.cols {
			c, _, ok := s.lookup(r.name)
			if !ok {
				return nil, unknownColumn(b, s, r.name, r.pos)
			}
			if err := n.add(c, true); err != nil {
				return nil, b.errorf(r.pos, "duplicate column %q", r.name)
			}
			cols = append(cols, c)
		}
		s.cols = cols
	}
	s.distinct = true
	return s, nil
}

// count is the count operator: one row with column Count.
func (b *builder) count(s *sel) *sel {
	if !s.mergeable() {
		s = b.wrap(s, false)
	}
	s.order = nil
	s.cols = []column{{name: "Count", t: tLong, sql: "COUNT(*)", pos: 0}}
	s.grouped, s.nkeys = true, 0
	return s
}

// take limits s; a LIMIT applies after everything else in a SELECT, so it
// always merges.
func (b *builder) take(s *sel, n int64) *sel {
	if s.limit < 0 || n < s.limit {
		s.limit = n
	}
	return s
}

func (b *builder) sort(s *sel, keys []sortKey) (*sel, error) {
	if !s.mergeable() {
		s = b.wrap(s, false)
	}
	c := &ectx{b: b, s: s}
	order := make([]orderItem, len(keys))
	for i, k := range keys {
		x, err := c.expr(k.x)
		if err != nil {
			return nil, err
		}
		order[i] = orderItem{sql: x.sql, desc: k.desc, nullsFirst: k.nullsFirst}
	}
	s.order = order
	return s, nil
}

func (b *builder) summarize(s *sel, op *summarizeOp) (*sel, error) {
	if !s.mergeable() {
		s = b.wrap(s, false)
	}
	s.order = nil
	items, err := b.expandAggs(op.aggs)
	if err != nil {
		return nil, err
	}
	g := s.source()
	g.where, g.grouped, g.nkeys = s.where, true, len(op.by)
	n := &namer{b: b}
	kc := &ectx{b: b, s: s}
	for _, k := range op.by {
		col, err := kc.namedColumn(k)
		if err != nil {
			return nil, err
		}
		if err := n.add(col, k.name.name != ""); err != nil {
			return nil, err
		}
	}
	ac := &ectx{b: b, s: s, aggs: true}
	for _, it := range items {
		x, err := ac.expr(it.x)
		if err != nil {
			return nil, err
		}
		if !x.agg {
			return nil, b.errorf(it.x.exprPos(), "summarize expressions need an aggregation function such as count() or sum()")
		}
		col := column{name: it.name.name, t: x.t, sql: x.sql, pos: it.name.pos}
		if col.name == "" {
			col.name, col.pos = it.defName, it.x.exprPos()
		}
		if err := n.add(col, it.name.name != ""); err != nil {
			return nil, err
		}
	}
	g.cols = n.cols
	return g, nil
}
