package kql

// Parsers for the operators with more than a list of expressions.

func (p *parser) rowCount() (int64, error) {
	t := p.tok()
	if t.kind != tkInt {
		return 0, p.errorf(t.pos, "expected a row count (integer literal), found %s", describe(t))
	}
	p.advance()
	return t.i, nil
}

func (p *parser) top(base opBase) (operator, error) {
	n, err := p.rowCount()
	if err != nil {
		return nil, err
	}
	if err := p.expectWord("by"); err != nil {
		return nil, err
	}
	key, err := p.sortKey()
	if err != nil {
		return nil, err
	}
	return &topOp{base, n, key}, nil
}

func (p *parser) sortKeys() ([]sortKey, error) {
	var keys []sortKey
	for {
		k, err := p.sortKey()
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
		if !p.isOp(",") {
			return keys, nil
		}
		p.advance()
	}
}

// sortKey parses "expr [asc|desc] [nulls first|last]"; KQL sorts descending
// by default, with nulls first when ascending and last when descending.
func (p *parser) sortKey() (sortKey, error) {
	x, err := p.expr()
	if err != nil {
		return sortKey{}, err
	}
	k := sortKey{x: x, desc: true}
	switch {
	case p.isWord("asc"):
		p.advance()
		k.desc = false
	case p.isWord("desc"):
		p.advance()
	}
	k.nullsFirst = !k.desc
	if p.isWord("nulls") {
		p.advance()
		switch {
		case p.isWord("first"):
			k.nullsFirst = true
		case p.isWord("last"):
			k.nullsFirst = false
		default:
			return sortKey{}, p.errorf(p.tok().pos, "expected first or last after nulls, found %s", describe(p.tok()))
		}
		p.advance()
	}
	return k, nil
}

func (p *parser) render(base opBase) (operator, error) {
	t := p.tok()
	if t.kind != tkIdent {
		return nil, p.errorf(t.pos, "expected a chart kind after render, found %s", describe(t))
	}
	if !renderKinds[t.text] {
		return nil, p.errorf(t.pos, "unknown chart kind %q", t.text)
	}
	p.advance()
	if p.isWord("with") {
		// Visualization properties are UI hints; accept and drop them.
		p.advance()
		if _, err := p.expectOp("("); err != nil {
			return nil, err
		}
		for depth := 1; depth > 0; {
			switch c := p.advance(); {
			case c.kind == tkEOF:
				return nil, p.errorf(c.pos, "unterminated render with (…)")
			case c.kind == tkOp && c.text == "(":
				depth++
			case c.kind == tkOp && c.text == ")":
				depth--
			}
		}
	}
	return &renderOp{base, t.text}, nil
}

// renderKinds are the chart kinds render accepts.
var renderKinds = map[string]bool{
	"timechart": true, "barchart": true, "columnchart": true, "piechart": true, "table": true,
	"linechart": true, "areachart": true, "stackedareachart": true, "scatterchart": true,
	"card": true, "anomalychart": true, "pivotchart": true, "ladderchart": true,
}

func (p *parser) projectRename(base opBase) (operator, error) {
	op := &projectRenameOp{opBase: base}
	for {
		newName, err := p.name()
		if err != nil {
			return nil, err
		}
		if _, err := p.expectOp("="); err != nil {
			return nil, err
		}
		old, err := p.name()
		if err != nil {
			return nil, err
		}
		op.pairs = append(op.pairs, [2]nameRef{newName, old})
		if !p.isOp(",") {
			return op, nil
		}
		p.advance()
	}
}

func (p *parser) summarize(base opBase) (operator, error) {
	op := &summarizeOp{opBase: base}
	if !p.isWord("by") {
		for {
			item, err := p.aggItem()
			if err != nil {
				return nil, err
			}
			op.aggs = append(op.aggs, item)
			if !p.isOp(",") {
				break
			}
			p.advance()
		}
	}
	if p.isWord("by") {
		p.advance()
		by, err := p.namedList()
		if err != nil {
			return nil, err
		}
		op.by = by
	}
	if len(op.aggs) == 0 && len(op.by) == 0 {
		return nil, p.errorf(base.pos, "summarize needs an aggregation or a by clause")
	}
	return op, nil
}

// aggItem parses "[name =] expr" or "(a, b, …) = percentiles(…)".
func (p *parser) aggItem() (aggItem, error) {
	if p.isOp("(") && p.peek(1).kind == tkIdent && p.peek(2).kind == tkOp &&
		(p.peek(2).text == "," || p.peek(2).text == ")") {
		save := p.i
		p.advance()
		names, err := p.nameList()
		if err == nil && p.isOp(")") && p.peek(1).kind == tkOp && p.peek(1).text == "=" {
			p.advance()
			p.advance()
			x, err := p.expr()
			if err != nil {
				return aggItem{}, err
			}
			return aggItem{names: names, x: x}, nil
		}
		p.i = save
	}
	item, err := p.namedExpr()
	if err != nil {
		return aggItem{}, err
	}
	a := aggItem{x: item.x}
	if item.name.name != "" {
		a.names = []nameRef{item.name}
	}
	return a, nil
}
