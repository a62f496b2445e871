package kql

// Expression grammar, loosest binding first:
//
//	expr    = and { "or" and }
//	and     = cmp { "and" cmp }
//	cmp     = add [ cmpop add | in-op "(" list ")" | between-op "(" add ".." add ")" | "matches" "regex" add ]
//	add     = mul { ("+" | "-") mul }
//	mul     = unary { ("*" | "/" | "%") unary }
//	unary   = ("-" | "+") unary | primary
//	primary = literal | name | name "(" [list] ")" | "(" expr ")"

// cmpOps are the binary comparison and string operators (symbolic or word).
var cmpOps = map[string]bool{
	"==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true, "=~": true, "!~": true,
	"contains": true, "!contains": true, "contains_cs": true, "!contains_cs": true,
	"has": true, "!has": true, "has_cs": true, "!has_cs": true,
	"startswith": true, "!startswith": true, "startswith_cs": true, "!startswith_cs": true,
	"endswith": true, "!endswith": true, "endswith_cs": true, "!endswith_cs": true,
}

// exprEnders are words that may follow a complete expression.
var exprEnders = map[string]bool{"and": true, "or": true, "by": true, "asc": true, "desc": true, "nulls": true}

func (p *parser) expr() (expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, p.errorf(p.tok().pos, "expression nested deeper than %d", maxDepth)
	}
	return p.binaryLevel("or", p.andExpr)
}

func (p *parser) andExpr() (expr, error) { return p.binaryLevel("and", p.cmpExpr) }

// binaryLevel parses a left-associative chain of the word operator op.
func (p *parser) binaryLevel(op string, next func() (expr, error)) (expr, error) {
	l, err := next()
	if err != nil {
		return nil, err
	}
	for p.isWord(op) {
		pos := p.advance().pos
		r, err := next()
		if err != nil {
			return nil, err
		}
		l = &binaryExpr{pos: pos, op: op, l: l, r: r}
	}
	return l, nil
}

func (p *parser) cmpExpr() (expr, error) {
	l, err := p.addExpr()
	if err != nil {
		return nil, err
	}
	t := p.tok()
	op := t.text
	switch {
	case t.kind == tkEOF:
		return l, nil
	case (t.kind == tkOp || t.kind == tkIdent || t.kind == tkBang) && cmpOps[op]:
		p.advance()
		r, err := p.addExpr()
		if err != nil {
			return nil, err
		}
		return &binaryExpr{pos: t.pos, op: op, l: l, r: r}, nil
	case (t.kind == tkIdent || t.kind == tkBang) && (op == "in" || op == "!in" || op == "in~" || op == "!in~"):
		p.advance()
		list, err := p.parenList()
		if err != nil {
			return nil, err
		}
		if len(list) == 0 {
			return nil, p.errorf(t.pos, "%s needs at least one value", op)
		}
		return &inExpr{pos: t.pos, x: l, list: list, not: op[0] == '!', ci: op[len(op)-1] == '~'}, nil
	case (t.kind == tkIdent || t.kind == tkBang) && (op == "between" || op == "!between"):
		p.advance()
		return p.between(t, l)
	case t.kind == tkIdent && op == "matches":
		p.advance()
		if err := p.expectWord("regex"); err != nil {
			return nil, err
		}
		r, err := p.addExpr()
		if err != nil {
			return nil, err
		}
		return &binaryExpr{pos: t.pos, op: "matches regex", l: l, r: r}, nil
	case t.kind == tkBang || (t.kind == tkIdent && !exprEnders[op]):
		return nil, p.errorf(t.pos, "unsupported operator %q", op)
	}
	return l, nil
}

func (p *parser) between(t token, l expr) (expr, error) {
	if _, err := p.expectOp("("); err != nil {
		return nil, err
	}
	lo, err := p.addExpr()
	if err != nil {
		return nil, err
	}
	if _, err := p.expectOp(".."); err != nil {
		return nil, err
	}
	hi, err := p.addExpr()
	if err != nil {
		return nil, err
	}
	if _, err := p.expectOp(")"); err != nil {
		return nil, err
	}
	return &betweenExpr{pos: t.pos, x: l, lo: lo, hi: hi, not: t.text == "!between"}, nil
}

func (p *parser) addExpr() (expr, error) {
	return p.symbolLevel([]string{"+", "-"}, p.mulExpr)
}

func (p *parser) mulExpr() (expr, error) {
	return p.symbolLevel([]string{"*", "/", "%"}, p.unaryExpr)
}

// symbolLevel parses a left-associative chain of symbolic operators.
func (p *parser) symbolLevel(ops []string, next func() (expr, error)) (expr, error) {
	l, err := next()
	if err != nil {
		return nil, err
	}
	for {
		t := p.tok()
		if t.kind != tkOp || !contains(ops, t.text) {
			return l, nil
		}
		p.advance()
		r, err := next()
		if err != nil {
			return nil, err
		}
		l = &binaryExpr{pos: t.pos, op: t.text, l: l, r: r}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) unaryExpr() (expr, error) {
	if t := p.tok(); t.kind == tkOp && (t.text == "-" || t.text == "+") {
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxDepth {
			return nil, p.errorf(t.pos, "expression nested deeper than %d", maxDepth)
		}
		p.advance()
		x, err := p.unaryExpr()
		if err != nil {
			return nil, err
		}
		return &unaryExpr{pos: t.pos, op: t.text, x: x}, nil
	}
	return p.primary()
}

func (p *parser) primary() (expr, error) {
	t := p.tok()
	switch t.kind {
	case tkInt:
		p.advance()
		return &litExpr{pos: t.pos, val: t.i}, nil
	case tkReal:
		p.advance()
		return &litExpr{pos: t.pos, val: t.f}, nil
	case tkString:
		p.advance()
		return &litExpr{pos: t.pos, val: t.str}, nil
	case tkTimespan:
		p.advance()
		return &litExpr{pos: t.pos, val: t.d}, nil
	case tkDatetime:
		p.advance()
		return &litExpr{pos: t.pos, val: t.t}, nil
	case tkIdent:
		if t.text == "true" || t.text == "false" {
			p.advance()
			return &litExpr{pos: t.pos, val: t.text == "true"}, nil
		}
		if keywords[t.text] {
			return nil, p.errorf(t.pos, "expected an expression, found %s", describe(t))
		}
		p.advance()
		if p.isOp("(") {
			args, err := p.parenList()
			if err != nil {
				return nil, err
			}
			return &callExpr{pos: t.pos, name: t.text, args: args}, nil
		}
		if p.isOp(".") || p.isOp("[") {
			return nil, p.errorf(p.tok().pos, "property access (dynamic values) is not supported")
		}
		return &identExpr{pos: t.pos, name: t.text}, nil
	case tkOp:
		if t.text == "(" {
			p.advance()
			x, err := p.expr()
			if err != nil {
				return nil, err
			}
			if _, err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return x, nil
		}
	}
	return nil, p.errorf(t.pos, "expected an expression, found %s", describe(t))
}

// parenList parses "(" [expr {"," expr}] ")".
func (p *parser) parenList() ([]expr, error) {
	if _, err := p.expectOp("("); err != nil {
		return nil, err
	}
	var list []expr
	if p.isOp(")") {
		p.advance()
		return list, nil
	}
	for {
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		list = append(list, x)
		if p.isOp(")") {
			p.advance()
			return list, nil
		}
		if _, err := p.expectOp(","); err != nil {
			return nil, err
		}
	}
}
