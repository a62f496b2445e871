package kql

// query is a parsed KQL query: a table and a pipeline of operators.
type query struct {
	table    string
	tablePos int
	ops      []operator
}

// operator is one tabular operator after a pipe.
type operator interface{ opPos() int }

type opBase struct{ pos int }

func (o opBase) opPos() int { return o.pos }

type whereOp struct {
	opBase
	pred expr
}

type projectOp struct {
	opBase
	items []namedExpr
}

type extendOp struct {
	opBase
	items []namedExpr
}

type projectAwayOp struct {
	opBase
	cols []nameRef
}

type projectRenameOp struct {
	opBase
	pairs [][2]nameRef // new, old
}

type summarizeOp struct {
	opBase
	aggs []aggItem
	by   []namedExpr
}

type distinctOp struct {
	opBase
	all  bool
	cols []nameRef
}

type countOp struct{ opBase }

type takeOp struct {
	opBase
	n int64
}

type sortOp struct {
	opBase
	keys []sortKey
}

type topOp struct {
	opBase
	n   int64
	key sortKey
}

type renderOp struct {
	opBase
	kind string
}

// nameRef is a column name with its position.
type nameRef struct {
	name string
	pos  int
}

// namedExpr is "[name =] expr"; name is empty when none was given.
type namedExpr struct {
	name nameRef
	x    expr
}

// aggItem is "[name =] agg" or "(n1, n2) = percentiles(…)".
type aggItem struct {
	names []nameRef
	x     expr
}

// sortKey is "expr [asc|desc] [nulls first|last]".
type sortKey struct {
	x          expr
	desc       bool
	nullsFirst bool
}

// expr is a scalar expression.
type expr interface{ exprPos() int }

type identExpr struct {
	pos  int
	name string
}

// litExpr holds int64, float64, string, bool, time.Time or time.Duration.
type litExpr struct {
	pos int
	val any
}

type unaryExpr struct {
	pos int
	op  string
	x   expr
}

// binaryExpr covers arithmetic, comparison, logic and string operators;
// pos is the operator's position.
type binaryExpr struct {
	pos  int
	op   string
	l, r expr
}

type callExpr struct {
	pos  int
	name string
	args []expr
}

type inExpr struct {
	pos  int // operator position
	x    expr
	list []expr
	not  bool
	ci   bool // in~
}

type betweenExpr struct {
	pos    int // operator position
	x      expr
	lo, hi expr
	not    bool
}

func (e *identExpr) exprPos() int   { return e.pos }
func (e *litExpr) exprPos() int     { return e.pos }
func (e *unaryExpr) exprPos() int   { return e.pos }
func (e *binaryExpr) exprPos() int  { return e.l.exprPos() }
func (e *callExpr) exprPos() int    { return e.pos }
func (e *inExpr) exprPos() int      { return e.x.exprPos() }
func (e *betweenExpr) exprPos() int { return e.x.exprPos() }
