package sqlitestore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
)

// multiRow is a statement that carries several rows, INSERT … VALUES
// (…), (…) …, prepared once per row count on a write connection
// (writeConn). A batch is cut into chunks of max rows and the rest into
// powers of two (chunks), so a connection holds at most log2(max)+1 such
// statements, whatever the batch sizes. One statement per chunk rather than
// per row saves the per-call cost of the driver (a cancellation goroutine,
// a VDBE reset), which was most of the writer's CPU after SQLite's own
// B-tree work.
type multiRow struct {
	max   int
	stmts map[int]rawStmt // by row count: max, max/2, …, 1
}

// rawStmt is a statement of the driver, run without database/sql.
type rawStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// prepareMultiRow prepares build(n) on conn for every chunk size n. max must
// be a power of two; the statements' variables (columns × max) must stay
// under SQLite's limit, SQLITE_MAX_VARIABLE_NUMBER (32,766).
func prepareMultiRow(ctx context.Context, conn driver.ConnPrepareContext, max int, build func(rows int) string) (*multiRow, error) {
	m := &multiRow{max: max, stmts: map[int]rawStmt{}}
	for n := max; n >= 1; n /= 2 {
		st, err := conn.PrepareContext(ctx, build(n))
		if err != nil {
			return nil, errors.Join(err, m.Close())
		}
		rs, ok := st.(rawStmt)
		if !ok {
			return nil, errors.Join(fmt.Errorf("driver statement %T runs without a context", st), st.Close(), m.Close())
		}
		m.stmts[n] = rs
	}
	return m, nil
}

// stmt returns the statement for n rows, a size chunks returned.
func (m *multiRow) stmt(n int) (rawStmt, error) {
	st, ok := m.stmts[n]
	if !ok {
		return nil, fmt.Errorf("no statement for %d rows", n)
	}
	return st, nil
}

// Close closes the prepared statements; it must run before their
// connection closes.
func (m *multiRow) Close() error {
	var errs []error
	for _, st := range m.stmts {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// namedValues returns vals as the driver's arguments, in nv's array when it
// is large enough. The values are driver.Value types already (appendValues
// and RollupRow.AppendValues make them so), which the switch lets through
// without the reflection of database/sql's conversion; anything else still
// goes through that conversion.
func namedValues(nv []driver.NamedValue, vals []any) ([]driver.NamedValue, error) {
	if cap(nv) < len(vals) {
		nv = make([]driver.NamedValue, len(vals))
	}
	nv = nv[:len(vals)]
	for i, v := range vals {
		switch x := v.(type) {
		case int64, float64, bool, string, []byte, nil:
		case int:
			v = int64(x)
		default:
			var err error
			if v, err = driver.DefaultParameterConverter.ConvertValue(v); err != nil {
				return nil, fmt.Errorf("argument %d: %w", i+1, err)
			}
		}
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv, nil
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
