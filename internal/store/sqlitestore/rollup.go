package sqlitestore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// sqliteType is the column type of a reqlog type in this store.
func sqliteType(t reqlog.ColumnType) string {
	switch t {
	case reqlog.TypeString:
		return "TEXT"
	case reqlog.TypeReal:
		return "REAL"
	}
	return "INTEGER" // time, long, bool
}

// rollupSchemaSQL creates reqlog.RollupTable and fills it from the log
// already stored, in the migration that introduces it. It is generated from
// reqlog's rollup lists; changing those needs a new migration.
//
// dims are the dimensions of the table being created: reqlog.RollupDims
// for the current table, an older list in the migration that created an
// older one (rollupDimsBefore).
func rollupSchemaSQL(dims, meas []reqlog.Column) string {
	var defs, key []string
	defs = append(defs, "grain INTEGER NOT NULL", "time INTEGER NOT NULL")
	key = append(key, "grain", "time")
	for _, d := range dims {
		defs = append(defs, d.SQL+" "+sqliteType(d.Type)+" NOT NULL"+reqlog.RollupColumnDefault(d))
		key = append(key, d.SQL)
	}
	defs = append(defs, "calls INTEGER NOT NULL")
	for _, m := range meas {
		t := sqliteType(m.Type)
		dflt := reqlog.RollupColumnDefault(m)
		defs = append(defs, "sum_"+m.SQL+" "+t+" NOT NULL"+dflt, "min_"+m.SQL+" "+t+" NOT NULL"+dflt, "max_"+m.SQL+" "+t+" NOT NULL"+dflt)
	}
	var b strings.Builder
	// WITHOUT ROWID: the key is the table's own B-tree, so the rollup is
	// stored once rather than as a table plus a unique index as wide as
	// its key, and time-range scans read rows without a second lookup.
	defs = append(defs, "PRIMARY KEY ("+strings.Join(key, ", ")+")")
	b.WriteString("CREATE TABLE " + reqlog.RollupTable + " (\n\t" + strings.Join(defs, ",\n\t") + "\n) STRICT, WITHOUT ROWID;\n")
	for _, g := range reqlog.Grains() {
		b.WriteString(rollupFillSQL(dims, meas, g, ""))
	}
	return b.String()
}

// rollupBucket is the SQL expression of the start of the grain-g bucket
// that a request_log time falls in.
func rollupBucket(g time.Duration) string {
	return "time - time % " + strconv.FormatInt(int64(g/time.Microsecond), 10)
}

// rollupFillSQL adds to the rollup of dimensions dims, at grain g, the log
// rows that match where (all rows when where is empty). A migration passes
// the dimensions its rollup table has at that step.
func rollupFillSQL(dims, meas []reqlog.Column, g time.Duration, where string) string {
	var sel, agg, groupBy []string
	groupBy = append(groupBy, "2")
	for i, d := range dims {
		sel = append(sel, d.SQL)
		groupBy = append(groupBy, strconv.Itoa(i+3))
	}
	agg = append(agg, "COUNT(*)")
	for _, m := range meas {
		agg = append(agg, "SUM("+m.SQL+")", "MIN("+m.SQL+")", "MAX("+m.SQL+")")
	}
	if where != "" {
		where = " WHERE " + where
	}
	names := append([]string{"grain", "time"}, sel...)
	names = append(names, "calls")
	for _, m := range meas {
		names = append(names, "sum_"+m.SQL, "min_"+m.SQL, "max_"+m.SQL)
	}
	return "INSERT INTO " + reqlog.RollupTable + " (" + strings.Join(names, ", ") + ")\nSELECT " +
		strconv.FormatInt(int64(g/time.Second), 10) + ", " + rollupBucket(g) + ", " +
		strings.Join(sel, ", ") + ", " + strings.Join(agg, ", ") +
		"\nFROM " + reqlog.SQLTable + where + " GROUP BY " + strings.Join(groupBy, ", ") + ";\n"
}

// rollupChunk is the most rollup rows one upsert carries: 32 rows of 51
// columns bind 1,632 variables. A batch's records fall in few buckets (one
// per grain and dimension values), so most batches need one or two upserts.
const rollupChunk = 32

// rollupUpsertSQL adds rows rollup rows to their buckets. The rows of one
// statement have distinct keys (reqlog.Rollup merges a batch's records by
// bucket), which an upsert of several rows needs.
func rollupUpsertSQL(rows int) string {
	cols := reqlog.RollupColumns()
	key := []string{"grain", "time"}
	for _, d := range reqlog.RollupDims() {
		key = append(key, d.SQL)
	}
	set := []string{"calls = calls + excluded.calls"}
	for _, m := range reqlog.RollupMeasures() {
		s, lo, hi := "sum_"+m.SQL, "min_"+m.SQL, "max_"+m.SQL
		set = append(set, s+" = "+s+" + excluded."+s, lo+" = min("+lo+", excluded."+lo+")", hi+" = max("+hi+", excluded."+hi+")")
	}
	return "INSERT OR FAIL INTO " + reqlog.RollupTable + " (" + strings.Join(cols, ", ") + ") VALUES " + valuesList(rows, len(cols)) +
		"\nON CONFLICT (" + strings.Join(key, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ")
}

// writeRollup adds recs to the rollup inside the log's transaction, with
// the statements of m: the batch is aggregated by bucket first
// (reqlog.Rollup), then upserted a chunk of buckets per statement.
func (c *writeConn) writeRollup(ctx context.Context, m *multiRow, recs []reqlog.Record) error {
	rows := reqlog.Rollup(recs, nil)
	off := 0
	for _, n := range chunks(len(rows), m.max) {
		vals := c.vals[:0]
		for i := off; i < off+n; i++ {
			start := len(vals)
			vals = rows[i].AppendValues(vals)
			vals[start+1] = EncodeTime(rows[i].Time)
		}
		c.vals = vals
		st, err := m.stmt(n)
		if err != nil {
			return err
		}
		if c.args, err = namedValues(c.args, vals); err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, c.args); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// deleteRollupBefore removes the rollup buckets that end at or before t.
func (s *Store) deleteRollupBefore(ctx context.Context, t time.Time) error {
	for _, g := range reqlog.Grains() {
		end := EncodeTime(t) - int64(g/time.Microsecond) // buckets starting at or before end end by t
		if _, err := s.write.ExecContext(ctx, "DELETE FROM "+reqlog.RollupTable+" WHERE grain = ? AND time <= ?",
			int64(g/time.Second), end); err != nil {
			return fmt.Errorf("delete old request log rollup: %w", err)
		}
	}
	return nil
}
