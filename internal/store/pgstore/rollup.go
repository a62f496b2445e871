package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// pgType is the column type of a reqlog type in this store.
func pgType(t reqlog.ColumnType) string {
	switch t {
	case reqlog.TypeString:
		return "text"
	case reqlog.TypeReal:
		return "double precision"
	case reqlog.TypeBool:
		return "boolean"
	case reqlog.TypeTime:
		return "timestamptz"
	}
	return "bigint"
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
	defs = append(defs, "grain integer NOT NULL", "time timestamptz NOT NULL")
	key = append(key, "grain", "time")
	for _, d := range dims {
		defs = append(defs, d.SQL+" "+pgType(d.Type)+" NOT NULL"+reqlog.RollupColumnDefault(d))
		key = append(key, d.SQL)
	}
	defs = append(defs, "calls bigint NOT NULL")
	for _, m := range meas {
		t := pgType(m.Type)
		dflt := reqlog.RollupColumnDefault(m)
		defs = append(defs, "sum_"+m.SQL+" "+t+" NOT NULL"+dflt, "min_"+m.SQL+" "+t+" NOT NULL"+dflt, "max_"+m.SQL+" "+t+" NOT NULL"+dflt)
	}
	var b strings.Builder
	b.WriteString("CREATE TABLE " + reqlog.RollupTable + " (\n\t" + strings.Join(defs, ",\n\t") + "\n);\n")
	b.WriteString("CREATE UNIQUE INDEX " + reqlog.RollupTable + "_key ON " + reqlog.RollupTable + " (" + strings.Join(key, ", ") + ");\n")
	for _, g := range reqlog.Grains() {
		b.WriteString(rollupFillSQL(dims, meas, g, ""))
	}
	return b.String()
}

// rollupBucket is the SQL expression of the start of the grain-g bucket
// that a request_log time falls in.
func rollupBucket(g time.Duration) string {
	secs := strconv.FormatInt(int64(g/time.Second), 10)
	return "date_bin(make_interval(secs => " + secs + "), time, timestamptz '1970-01-01 00:00:00+00')"
}

// rollupFillSQL adds to the rollup of dimensions dims, at grain g, the log
// rows that match where (all rows when where is empty). A migration passes
// the dimensions its rollup table has at that step.
func rollupFillSQL(dims, meas []reqlog.Column, g time.Duration, where string) string {
	return "INSERT INTO " + reqlog.RollupTable + " (" + strings.Join(rollupNames(dims, meas), ", ") + ")\n" +
		rollupSelectSQL(dims, meas, g, reqlog.SQLTable, where) + ";\n"
}

// rollupNames are the rollup columns of dims and meas in the order
// rollupSelectSQL gives them.
func rollupNames(dims, meas []reqlog.Column) []string {
	names := []string{"grain", "time"}
	for _, d := range dims {
		names = append(names, d.SQL)
	}
	names = append(names, "calls")
	for _, m := range meas {
		names = append(names, "sum_"+m.SQL, "min_"+m.SQL, "max_"+m.SQL)
	}
	return names
}

// rollupSelectSQL aggregates the rows of from that match where (all when
// where is empty) into rollup rows of grain g.
func rollupSelectSQL(dims, meas []reqlog.Column, g time.Duration, from, where string) string {
	var sel, agg, groupBy []string
	groupBy = append(groupBy, "2")
	for i, d := range dims {
		sel = append(sel, d.SQL)
		groupBy = append(groupBy, strconv.Itoa(i+3))
	}
	agg = append(agg, "COUNT(*)")
	for _, m := range meas {
		agg = append(agg, "SUM("+m.SQL+")::"+pgType(m.Type), "MIN("+m.SQL+")", "MAX("+m.SQL+")")
	}
	if where != "" {
		where = " WHERE " + where
	}
	return "SELECT " + strconv.FormatInt(int64(g/time.Second), 10) + ", " + rollupBucket(g) + ", " +
		strings.Join(sel, ", ") + ", " + strings.Join(agg, ", ") +
		"\nFROM " + from + where + " GROUP BY " + strings.Join(groupBy, ", ")
}

// rollupAddSQL adds the rows of from, a relation with the log's rollup
// columns (the inserted rows of WriteBatch's statement), to the rollup in
// every grain. The buckets are upserted in key order, so concurrent writers
// (replicas) lock them in the same order and cannot deadlock.
func rollupAddSQL(from string) string {
	dims, meas := reqlog.RollupDims(), reqlog.RollupMeasures()
	var selects, order []string
	for _, g := range reqlog.Grains() {
		selects = append(selects, rollupSelectSQL(dims, meas, g, from, ""))
	}
	for i := range 2 + len(dims) {
		order = append(order, strconv.Itoa(i+1))
	}
	key := []string{"grain", "time"}
	for _, d := range dims {
		key = append(key, d.SQL)
	}
	t := reqlog.RollupTable
	set := []string{"calls = " + t + ".calls + EXCLUDED.calls"}
	for _, m := range meas {
		s, lo, hi := "sum_"+m.SQL, "min_"+m.SQL, "max_"+m.SQL
		set = append(set, s+" = "+t+"."+s+" + EXCLUDED."+s, lo+" = LEAST("+t+"."+lo+", EXCLUDED."+lo+")",
			hi+" = GREATEST("+t+"."+hi+", EXCLUDED."+hi+")")
	}
	return "INSERT INTO " + t + " (" + strings.Join(rollupNames(dims, meas), ", ") + ")\n" +
		strings.Join(selects, "\nUNION ALL\n") + "\nORDER BY " + strings.Join(order, ", ") +
		"\nON CONFLICT (" + strings.Join(key, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ")
}

// deleteRollupBefore removes the rollup buckets that end at or before t.
func (s *Store) deleteRollupBefore(ctx context.Context, t time.Time) error {
	for _, g := range reqlog.Grains() {
		if _, err := s.pool.Exec(ctx, "DELETE FROM "+reqlog.RollupTable+" WHERE grain = $1 AND time <= $2",
			int32(g/time.Second), t.Add(-g)); err != nil {
			return fmt.Errorf("delete old request log rollup: %w", err)
		}
	}
	return nil
}
