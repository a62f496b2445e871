// Package logquery runs KQL over the request log: it compiles a query with
// internal/kql, executes it read-only under a statement timeout on the
// store's database, decodes the rows, and formats them as a table, JSON or
// CSV. The same runner backs `moat logs query`, the HTTP query API and the
// dashboard, so all three give the same answers.
package logquery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/moat-gw/moat/internal/kql"
)

// DataAction is the RBAC data action a caller needs to read the request log
// through the query API or the dashboard (rbac.DataActionLogsRead).
const DataAction = "Moat/logs/read"

// ContentDataAction is the RBAC data action a caller needs, besides
// DataAction, to read prompt and completion text, the RequestMessages and
// ResponseMessages columns (rbac.DataActionLogsContentRead). Without it
// queries run against the log without those columns.
const ContentDataAction = "Moat/logs/content/read"

type contentKey struct{}

// WithContent marks ctx as allowed to read prompt and completion text.
// Queries run under a context without the mark see the log without the
// content columns (kql.Options.HideContent).
func WithContent(ctx context.Context) context.Context {
	return context.WithValue(ctx, contentKey{}, true)
}

// ContentAllowed reports whether ctx was marked by WithContent.
func ContentAllowed(ctx context.Context) bool {
	ok, _ := ctx.Value(contentKey{}).(bool)
	return ok
}

// DefaultTimeout bounds a query whose context carries no deadline, so that
// a careless query over months of logs cannot hold a database connection
// for ever.
const DefaultTimeout = 30 * time.Second

// Result is a query's answer, decoded into Go values.
type Result struct {
	// Columns names and types the result columns, in order.
	Columns []kql.OutColumn
	// Rows holds int64, float64, string, bool, time.Time (UTC) or nil
	// values, one per column (kql.Query.DecodeRow).
	Rows [][]any
	// Render is the query's trailing render kind ("timechart", "barchart",
	// …) or "", a hint for how to draw the result.
	Render string
	// Rollup says the rollup answered the whole hours and days of the
	// query's range (kql.Query.Rollup).
	Rollup bool
	// Content says the query read prompt or completion text
	// (kql.Query.Content); such reads are audited.
	Content bool
	// Elapsed is the time from compilation to the last row.
	Elapsed time.Duration
}

// TimeoutError reports that a query ran out of time, so that callers can
// answer with advice (narrow the time range) rather than an internal error.
type TimeoutError struct {
	// Timeout is the time the query was given.
	Timeout time.Duration
}

// Error says how long the query was allowed to run.
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("the query did not finish within %v; narrow the time range (where TimeGenerated > ago(…)) or summarize more", e.Timeout.Round(time.Millisecond))
}

// DataError is a query that compiled but that the database rejected because
// of the values it met, such as toint("abc") on PostgreSQL or an invalid
// regular expression. Its message is the database's and is safe to show to
// the person who wrote the query.
type DataError struct {
	Msg string
}

// Error returns the database's message.
func (e *DataError) Error() string { return e.Msg }

// Runner runs queries on one store's database; its zero Timeout and nil Now
// take DefaultTimeout and time.Now. Its Query method is what Handler and the
// dashboard take.
type Runner struct {
	// DB is the store's read-only pool (sqlitestore.Store.DB or
	// pgstore.Store.DB).
	DB *sql.DB
	// Dialect is the store's SQL dialect.
	Dialect kql.Dialect
	// Timeout bounds each query when the caller's context has no earlier
	// deadline.
	Timeout time.Duration
	// Now is the clock for ago() and now(); nil means time.Now.
	Now func() time.Time
	// Options tune compilation; moat's stores keep the rollup, so their
	// runners set Options.Rollup.
	Options kql.Options
}

// Query runs query with the runner's database, clock and timeout.
func (r *Runner) Query(ctx context.Context, query string) (*Result, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	return RunOptions(ctx, r.DB, r.Dialect, query, now(), r.Options)
}

// Run compiles query for dialect d with now as the time of ago() and now(),
// runs it on db and returns the decoded rows. A context without a deadline
// gets DefaultTimeout. On PostgreSQL the statement runs in a READ ONLY
// transaction with statement_timeout set to the time left; on SQLite db must
// be the store's query_only pool (sqlitestore.Store.DB).
//
// Errors: *kql.Error for mistakes in the query (with line and column),
// *TimeoutError when the deadline passes, *DataError when the database
// rejects a value, anything else for database failures.
func Run(ctx context.Context, db *sql.DB, d kql.Dialect, query string, now time.Time) (*Result, error) {
	return RunOptions(ctx, db, d, query, now, kql.Options{})
}

// RunOptions is Run with compile options: with o.Rollup, summaries over
// whole hours and days read the store's rollup (kql.Options). Unless ctx
// was marked by WithContent, the content columns are hidden.
func RunOptions(ctx context.Context, db *sql.DB, d kql.Dialect, query string, now time.Time, o kql.Options) (*Result, error) {
	start := time.Now()
	if !ContentAllowed(ctx) {
		o.HideContent = true
	}
	q, err := kql.CompileOptions(query, d, now, o)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	budget := time.Until(deadline)

	var rows [][]any
	switch d {
	case kql.Postgres:
		rows, err = runPostgres(ctx, db, q, budget)
	default:
		rows, err = scan(ctx, db, q)
	}
	if err != nil {
		return nil, classify(ctx, err, budget)
	}
	return &Result{Columns: q.Columns, Rows: rows, Render: q.Render, Rollup: q.Rollup, Content: q.Content, Elapsed: time.Since(start)}, nil
}

// queryer is what scan needs from a *sql.DB or *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// runPostgres runs q in a read-only transaction whose statement_timeout is
// the context's remaining budget, so the server stops work the client has
// given up on even if the connection outlives the context.
func runPostgres(ctx context.Context, db *sql.DB, q *kql.Query, budget time.Duration) ([][]any, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }() // read-only: nothing to commit
	ms := max(budget.Milliseconds(), 1)
	if _, err := tx.ExecContext(ctx, "SELECT set_config('statement_timeout', $1, true)", strconv.FormatInt(ms, 10)); err != nil {
		return nil, err
	}
	return scan(ctx, tx, q)
}

// scan runs q and decodes every row.
func scan(ctx context.Context, db queryer, q *kql.Query) ([][]any, error) {
	rs, err := db.QueryContext(ctx, q.SQL, q.Args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	out := [][]any{}
	for rs.Next() {
		row := make([]any, len(q.Columns))
		ptrs := make([]any, len(row))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, err
		}
		if err := q.DecodeRow(row); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// classify turns a database error into the error kinds Run documents.
func classify(ctx context.Context, err error, budget time.Duration) error {
	var pe *pgconn.PgError
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &TimeoutError{Timeout: budget}
	case errors.As(err, &pe) && pe.Code == "57014": // query_canceled: statement_timeout
		return &TimeoutError{Timeout: budget}
	case errors.As(err, &pe) && len(pe.Code) == 5 && pe.Code[:2] == "22": // data exception
		return &DataError{Msg: pe.Message}
	}
	// modernc.org/sqlite reports SQLITE_ERROR (1) for failures on values,
	// such as an integer overflow, the compiler having made the SQL valid.
	var se interface{ Code() int }
	if errors.As(err, &se) && se.Code() == 1 {
		return &DataError{Msg: err.Error()}
	}
	return fmt.Errorf("run query: %w", err)
}
