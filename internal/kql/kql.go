// Package kql compiles a subset of the Kusto Query Language over the request
// log (reqlog.TableName) into one read-only SQL SELECT for SQLite or
// PostgreSQL, so operators can reuse the KQL they already write against
// Azure's ApiManagementGatewayLogs without a second query language.
//
// The lexer and the recursive-descent parser are written by hand. Every
// literal of the query becomes a bound parameter; identifiers in the SQL come
// only from the reqlog schema or from validated KQL names, and are quoted.
// README.md lists the supported subset and where it deviates from KQL.
package kql

import (
	"fmt"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// Dialect selects the SQL flavour Compile generates, because the stores
// differ in parameter syntax, time encoding and available functions.
type Dialect int

// Dialects.
const (
	// SQLite is modernc.org/sqlite: "?" parameters, time as INTEGER unix
	// microseconds (SQLiteTimeEncoding).
	SQLite Dialect = iota + 1
	// Postgres is PostgreSQL 14 or later: "$n" parameters, time as
	// timestamptz (PostgresTimeEncoding).
	Postgres
)

// String names the dialect for errors and test output.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// The storage contract for reqlog's datetime column ("time") that the
// generated SQL relies on. The stores must follow it; tests here assume it.
const (
	// SQLiteTimeEncoding: SQLite stores time as INTEGER microseconds since the
	// Unix epoch (UTC). Datetime parameters and datetime result values on
	// SQLite are int64 unix microseconds too.
	SQLiteTimeEncoding = "INTEGER unix microseconds (UTC)"
	// PostgresTimeEncoding: PostgreSQL stores time as timestamptz. Datetime
	// parameters and results are time.Time.
	PostgresTimeEncoding = "timestamptz"
)

// MaxRows caps every result: the generated SQL always ends in LIMIT, with
// the query's own take/limit/top when it is smaller, so a careless query
// cannot stream the whole log to a browser.
const MaxRows = 10000

// IDColumn is the KQL name of the store's row id, queryable next to the
// reqlog.Columns schema.
const IDColumn = "Id"

// Query is a compiled KQL query, ready for database/sql.
type Query struct {
	// SQL is a single SELECT statement with placeholders ("?" or "$n").
	SQL string
	// Args are the values for the placeholders, in order.
	Args []any
	// Columns describe the result columns in order; Decode uses their types
	// to turn driver values into Go values.
	Columns []OutColumn
	// Render is the chart kind of a trailing "render" operator ("timechart",
	// "barchart", …), or "" when there is none. It is a hint for the UI and
	// is not part of the SQL.
	Render string
	// Dialect is the dialect the SQL was generated for.
	Dialect Dialect
	// Rollup says the SQL reads reqlog.RollupTable for part of the range
	// (Options.Rollup).
	Rollup bool
	// Content says the SQL reads prompt or completion text (a column for
	// which reqlog.Column.Content is true), so that the read is audited.
	Content bool
}

// OutColumn is one result column: its KQL name and logical type.
type OutColumn struct {
	Name string
	Type reqlog.ColumnType
}

// Error is a compile error with the position it refers to, so editors and
// API clients can point at the offending token.
type Error struct {
	Line int // 1-based line
	Col  int // 1-based column, counted in characters (runes)
	Msg  string
}

// Error formats the error as "line L, col C: message".
func (e *Error) Error() string {
	return fmt.Sprintf("line %d, col %d: %s", e.Line, e.Col, e.Msg)
}

// newError converts a byte offset in src into a positioned *Error.
func newError(src string, pos int, msg string) *Error {
	if pos > len(src) {
		pos = len(src)
	}
	line, col := 1, 1
	for _, r := range src[:pos] {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return &Error{Line: line, Col: col, Msg: msg}
}

// Compile translates query into SQL for dialect d. ago() and now() are
// evaluated against now, so the same query and now always give the same SQL
// and arguments. Errors about the query are *Error values with a position.
func Compile(query string, d Dialect, now time.Time) (*Query, error) {
	return CompileOptions(query, d, now, Options{})
}

// CompileOptions is Compile with options.
func CompileOptions(query string, d Dialect, now time.Time, o Options) (*Query, error) {
	if d != SQLite && d != Postgres {
		return nil, fmt.Errorf("compile kql: unknown dialect %v", d)
	}
	if len(query) > maxQueryBytes {
		return nil, &Error{Line: 1, Col: 1, Msg: fmt.Sprintf("query is longer than %d bytes", maxQueryBytes)}
	}
	q, err := parse(query)
	if err != nil {
		return nil, err
	}
	b := &builder{d: d, now: now.UTC(), src: query, opts: o}
	return b.compile(q)
}

// Limits that keep compilation cheap and the SQL within what the databases
// accept, whatever the input.
const (
	maxQueryBytes = 64 << 10
	maxDepth      = 64   // expression nesting
	maxOps        = 64   // pipe operators
	maxArgs       = 4096 // bound parameters in the SQL
)
