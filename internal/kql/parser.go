package kql

import (
	"fmt"
	"sort"
	"strings"
)

// parser is a recursive-descent parser over the token slice.
type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

// parse lexes and parses src into a query.
func parse(src string) (*query, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	return p.query()
}

func (p *parser) tok() token       { return p.toks[p.i] }
func (p *parser) peek(n int) token { return p.toks[min(p.i+n, len(p.toks)-1)] }
func (p *parser) advance() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) errorf(pos int, format string, args ...any) error {
	return newError(p.src, pos, fmt.Sprintf(format, args...))
}

// isOp reports whether the current token is the symbol s.
func (p *parser) isOp(s string) bool { t := p.tok(); return t.kind == tkOp && t.text == s }

// isWord reports whether the current token is the identifier w.
func (p *parser) isWord(w string) bool { t := p.tok(); return t.kind == tkIdent && t.text == w }

func (p *parser) expectOp(s string) (token, error) {
	if !p.isOp(s) {
		return token{}, p.errorf(p.tok().pos, "expected %q, found %s", s, describe(p.tok()))
	}
	return p.advance(), nil
}

func (p *parser) expectWord(w string) error {
	if !p.isWord(w) {
		return p.errorf(p.tok().pos, "expected %q, found %s", w, describe(p.tok()))
	}
	p.advance()
	return nil
}

// describe names a token for error messages.
func describe(t token) string {
	switch t.kind {
	case tkEOF:
		return "end of query"
	case tkString:
		return "string literal"
	case tkInt, tkReal:
		return "number " + t.text
	case tkTimespan:
		return "timespan " + t.text
	}
	return fmt.Sprintf("%q", t.text)
}

// tableAliases are the table names a query may start with; Azure's names map
// to the request log so existing queries port unchanged.
var tableAliases = map[string]bool{
	"MoatGatewayLogs":            true,
	"ApiManagementGatewayLogs":   true,
	"ApiManagementGatewayLlmLog": true,
}

// supportedOps lists the operators, for the "unsupported operator" message.
var supportedOps = []string{"where", "project", "project-away", "project-rename", "extend",
	"summarize", "distinct", "count", "take", "limit", "top", "sort", "order", "render"}

func (p *parser) query() (*query, error) {
	t := p.tok()
	if t.kind != tkIdent {
		return nil, p.errorf(t.pos, "expected table name %s, found %s", tableName, describe(t))
	}
	if t.text == "let" {
		return nil, p.errorf(t.pos, "let statements are not supported")
	}
	if !tableAliases[t.text] {
		return nil, p.errorf(t.pos, "unknown table %q (want %s)", t.text, tableName)
	}
	p.advance()
	q := &query{table: t.text, tablePos: t.pos}
	for p.isOp("|") {
		p.advance()
		if len(q.ops) >= maxOps {
			return nil, p.errorf(p.tok().pos, "more than %d operators", maxOps)
		}
		op, err := p.operator()
		if err != nil {
			return nil, err
		}
		if len(q.ops) > 0 {
			if r, ok := q.ops[len(q.ops)-1].(*renderOp); ok {
				return nil, p.errorf(op.opPos(), "render must be the last operator (after line %d)", newError(p.src, r.pos, "").Line)
			}
		}
		q.ops = append(q.ops, op)
	}
	if p.isOp(";") {
		p.advance()
		if t := p.tok(); t.kind != tkEOF {
			return nil, p.errorf(t.pos, "only one statement is supported")
		}
	}
	if t := p.tok(); t.kind != tkEOF {
		return nil, p.errorf(t.pos, "expected | or end of query, found %s", describe(t))
	}
	return q, nil
}

func (p *parser) operator() (operator, error) {
	t := p.tok()
	if t.kind != tkIdent {
		return nil, p.errorf(t.pos, "expected an operator after |, found %s", describe(t))
	}
	p.advance()
	base := opBase{pos: t.pos}
	switch t.text {
	case "where", "filter":
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		return &whereOp{base, x}, nil
	case "project":
		items, err := p.namedList()
		if err != nil {
			return nil, err
		}
		return &projectOp{base, items}, nil
	case "extend":
		items, err := p.namedList()
		if err != nil {
			return nil, err
		}
		return &extendOp{base, items}, nil
	case "project-away":
		cols, err := p.nameList()
		if err != nil {
			return nil, err
		}
		return &projectAwayOp{base, cols}, nil
	case "project-rename":
		return p.projectRename(base)
	case "summarize":
		return p.summarize(base)
	case "distinct":
		if p.isOp("*") {
			p.advance()
			return &distinctOp{opBase: base, all: true}, nil
		}
		cols, err := p.nameList()
		if err != nil {
			return nil, err
		}
		return &distinctOp{opBase: base, cols: cols}, nil
	case "count":
		return &countOp{base}, nil
	case "take", "limit":
		n, err := p.rowCount()
		if err != nil {
			return nil, err
		}
		return &takeOp{base, n}, nil
	case "top":
		return p.top(base)
	case "sort", "order":
		if err := p.expectWord("by"); err != nil {
			return nil, err
		}
		keys, err := p.sortKeys()
		if err != nil {
			return nil, err
		}
		return &sortOp{base, keys}, nil
	case "render":
		return p.render(base)
	}
	list := append([]string(nil), supportedOps...)
	sort.Strings(list)
	return nil, p.errorf(t.pos, "unsupported operator %q (supported: %s)", t.text, strings.Join(list, ", "))
}

// nameList parses "col, col, …".
func (p *parser) nameList() ([]nameRef, error) {
	var out []nameRef
	for {
		n, err := p.name()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
		if !p.isOp(",") {
			return out, nil
		}
		p.advance()
	}
}

// name parses one identifier usable as a column name.
func (p *parser) name() (nameRef, error) {
	t := p.tok()
	if t.kind != tkIdent || keywords[t.text] || !isName(t.text) {
		return nameRef{}, p.errorf(t.pos, "expected a column name, found %s", describe(t))
	}
	p.advance()
	return nameRef{t.text, t.pos}, nil
}

// keywords cannot be column names.
var keywords = map[string]bool{
	"and": true, "or": true, "by": true, "asc": true, "desc": true, "nulls": true,
	"true": true, "false": true, "in": true, "in~": true, "between": true, "matches": true,
	"contains": true, "contains_cs": true, "has": true, "has_cs": true, "startswith": true,
	"startswith_cs": true, "endswith": true, "endswith_cs": true, "with": true,
}

// namedList parses "[name =] expr, …".
func (p *parser) namedList() ([]namedExpr, error) {
	var out []namedExpr
	for {
		item, err := p.namedExpr()
		if err != nil {
			return nil, err
		}
		out = append(out, item)
		if !p.isOp(",") {
			return out, nil
		}
		p.advance()
	}
}

func (p *parser) namedExpr() (namedExpr, error) {
	var item namedExpr
	if t := p.tok(); t.kind == tkIdent && p.peek(1).kind == tkOp && p.peek(1).text == "=" {
		n, err := p.name()
		if err != nil {
			return item, err
		}
		p.advance() // =
		item.name = n
	}
	x, err := p.expr()
	if err != nil {
		return item, err
	}
	item.x = x
	return item, nil
}

// isName reports whether s is a plain identifier ([A-Za-z_][A-Za-z0-9_]*),
// the only kind of name that reaches the SQL.
func isName(s string) bool {
	if s == "" || isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLetter(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}
