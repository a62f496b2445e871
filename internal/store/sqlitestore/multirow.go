package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// multiRow is a statement that carries several rows, INSERT … VALUES
// (…), (…) …, prepared once per row count on the write pool. A batch is cut
// into chunks of max rows and the rest into powers of two (chunks), so a
// store holds at most log2(max)+1 such statements, whatever the batch sizes.
// One statement per chunk rather than per row saves the per-call cost of
// database/sql and the driver (argument conversion, a cancellation
// goroutine, a VDBE reset), which was most of the writer's CPU after
// SQLite's own B-tree work.
type multiRow struct {
	max   int
	stmts map[int]*sql.Stmt // by row count: max, max/2, …, 1
}

// prepareMultiRow prepares build(n) for every chunk size n. max must be a
// power of two; the statements' variables (columns × max) must stay under
// SQLite's limit, SQLITE_MAX_VARIABLE_NUMBER (32,766).
func prepareMultiRow(ctx context.Context, db *sql.DB, max int, build func(rows int) string) (*multiRow, error) {
	m := &multiRow{max: max, stmts: map[int]*sql.Stmt{}}
	for n := max; n >= 1; n /= 2 {
		st, err := db.PrepareContext(ctx, build(n))
		if err != nil {
			return nil, errors.Join(err, m.Close())
		}
		m.stmts[n] = st
	}
	return m, nil
}

// stmt returns the statement for n rows (a size chunks returned) bound to
// tx. With the write pool's one connection, tx reuses the statement
// prepared on it rather than preparing it again.
func (m *multiRow) stmt(ctx context.Context, tx *sql.Tx, n int) (*sql.Stmt, error) {
	st, ok := m.stmts[n]
	if !ok {
		return nil, fmt.Errorf("no statement for %d rows", n)
	}
	return tx.StmtContext(ctx, st), nil
}

// Close closes the prepared statements.
func (m *multiRow) Close() error {
	var errs []error
	for _, st := range m.stmts {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// chunks cuts n rows into chunks of max rows and then powers of two, largest
// first: chunks(200, 64) is 64, 64, 64, 8. max must be a power of two.
func chunks(n, max int) []int {
	var out []int
	for ; n >= max; n -= max {
		out = append(out, max)
	}
	for size := max / 2; size >= 1; size /= 2 {
		if n >= size {
			out = append(out, size)
			n -= size
		}
	}
	return out
}

// valuesList returns rows groups of cols placeholders, "(?, ?), (?, ?)".
func valuesList(rows, cols int) string {
	one := "(?" + strings.Repeat(", ?", cols-1) + ")"
	var b strings.Builder
	b.Grow(rows * (len(one) + 2))
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	return b.String()
}
