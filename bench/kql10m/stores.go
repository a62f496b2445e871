package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/kql"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/pgstore"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

// variant is a change to the benchmark database (never to moat's
// migrations) measured after the schema as shipped; variants accumulate.
type variant struct {
	name  string
	stmts []string
}

// variants are tried with -indexes. docs/benchmarks.md reports which of
// them moat should adopt.
var variants = map[kql.Dialect][]variant{
	kql.SQLite: {
		// Without statistics SQLite prefers scanning the whole (caller,
		// time) or (deployment, time) index in GROUP BY order over a range
		// search on time; ANALYZE's STAT4 samples show that a recent time
		// range is small.
		{name: "ANALYZE", stmts: []string{"ANALYZE"}},
		// Aggregations over a time range read only these columns, so the
		// index covers them and the table is never visited.
		{name: "ANALYZE + covering index", stmts: []string{
			"CREATE INDEX bench_time_cover ON request_log (time, caller, deployment, status, total_tokens, total_ms)",
			"ANALYZE"}},
		// With statistics SQLite still prefers a skip-scan of (caller,
		// time) over the covering index; "noskipscan" in sqlite_stat1 is
		// SQLite's documented way to turn that off for an index.
		{name: "ANALYZE + covering index + noskipscan", stmts: []string{
			"UPDATE sqlite_stat1 SET stat = stat || ' noskipscan' WHERE idx IN ('request_log_caller_time', 'request_log_deployment_time')",
			"ANALYZE sqlite_schema"}},
	},
	kql.Postgres: {
		// KQL sorts descending with nulls last; a backward scan of an
		// index in NULLS FIRST order gives exactly that, so "top N by
		// TimeGenerated" reads N rows instead of sorting the table. The
		// included columns make range aggregations index-only.
		{name: "covering index", stmts: []string{
			"CREATE INDEX bench_time_cover ON request_log (time NULLS FIRST) INCLUDE (caller, deployment, status, total_tokens, total_ms)",
			"ANALYZE request_log"}},
	},
}

// sqliteCleanup restores the shipped schema of a reused benchmark file.
var sqliteCleanup = []string{"DROP INDEX IF EXISTS bench_time_cover", "DROP TABLE IF EXISTS sqlite_stat1", "DROP TABLE IF EXISTS sqlite_stat4"}

// loader writes generated records through a store's WriteBatch.
func load(ctx context.Context, o options, out io.Writer, what string, end time.Time, write func(context.Context, []reqlog.Record) error) error {
	g := newGenerator(42, end.Add(-time.Duration(o.days)*24*time.Hour), end, o.rows)
	buf := make([]reqlog.Record, o.batch)
	p := newProgress(out, what, o.rows)
	done := 0
	for {
		n := g.fill(buf)
		if n == 0 {
			return nil
		}
		if err := write(ctx, buf[:n]); err != nil {
			return fmt.Errorf("load %s: %w", what, err)
		}
		done += n
		p.done(done)
	}
}

func benchSQLite(ctx context.Context, o options, out io.Writer) ([]measurement, error) {
	path := filepath.Join(o.dir, fmt.Sprintf("kql-%d-%dd.db", o.rows, o.days))
	s, err := sqlitestore.Open(ctx, path, nil)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var have int64
	if err := s.DB().QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM request_log").Scan(&have); err != nil {
		return nil, err
	}
	if have != int64(o.rows) {
		if have != 0 {
			s.Close()
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(path + suffix)
			}
			if s, err = sqlitestore.Open(ctx, path, nil); err != nil {
				return nil, err
			}
			defer s.Close()
		}
		fmt.Fprintf(out, "sqlite: writing %d rows to %s\n", o.rows, path)
		start := time.Now()
		if err := load(ctx, o, out, "sqlite", time.Now().UTC().Truncate(time.Second), s.WriteBatch); err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "sqlite: loaded in %v\n", time.Since(start).Round(time.Second))
	} else {
		fmt.Fprintf(out, "sqlite: reusing %s (%d rows)\n", path, have)
	}
	if fi, err := os.Stat(path); err == nil {
		fmt.Fprintf(out, "sqlite: file is %.2f GB\n", float64(fi.Size())/1e9)
	}
	var newest int64
	if err := s.DB().QueryRowContext(ctx, "SELECT MAX(time) FROM request_log").Scan(&newest); err != nil {
		return nil, err
	}
	now := sqlitestore.DecodeTime(newest)

	// The store's pools are read-only or busy with the writer; variants
	// are applied through a connection of our own and undone afterwards,
	// so the reused file keeps moat's schema.
	w, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	defer w.Close()
	cleanup := func() {
		for _, stmt := range sqliteCleanup {
			if _, err := w.ExecContext(context.Background(), stmt); err != nil {
				fmt.Fprintln(out, "sqlite: cleanup:", err)
			}
		}
	}
	cleanup() // a previous run may have been interrupted
	defer cleanup()

	if o.explain {
		if err := explain(ctx, out, s.DB(), kql.SQLite, now); err != nil {
			return nil, err
		}
	}
	fmt.Fprintln(out, "sqlite: as shipped (migration indexes, no statistics)")
	ms := timeQueries(ctx, o, out, "SQLite", "as shipped", s.DB(), kql.SQLite, now)
	if !o.indexes {
		return ms, nil
	}
	for _, v := range variants[kql.SQLite] {
		start := time.Now()
		for _, stmt := range v.stmts {
			if _, err := w.ExecContext(ctx, stmt); err != nil {
				return nil, fmt.Errorf("sqlite: %s: %w", stmt, err)
			}
		}
		fmt.Fprintf(out, "sqlite: %s applied in %v\n", v.name, time.Since(start).Round(time.Second))
		// Open connections keep the statistics they loaded; an edit of
		// sqlite_stat1 reaches only new ones, so measure on a fresh store.
		fresh, err := sqlitestore.Open(ctx, path, nil)
		if err != nil {
			return nil, err
		}
		if o.explain {
			if err := explain(ctx, out, fresh.DB(), kql.SQLite, now); err != nil {
				fresh.Close()
				return nil, err
			}
		}
		ms = append(ms, timeQueries(ctx, o, out, "SQLite", v.name, fresh.DB(), kql.SQLite, now)...)
		fresh.Close()
	}
	return ms, nil
}

func benchPostgres(ctx context.Context, o options, out io.Writer) (_ []measurement, err error) {
	conn, err := pgx.Connect(ctx, o.dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(context.Background())
	schema := pgx.Identifier{o.schema}.Sanitize()
	if !o.keepSchema {
		defer func() {
			_, derr := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			err = errors.Join(err, derr)
		}()
	}
	var have int64
	var newest time.Time
	_ = conn.QueryRow(ctx, "SELECT COALESCE(MAX(id), 0), COALESCE(MAX(time), now()) FROM "+schema+".request_log").Scan(&have, &newest)
	end := time.Now().UTC().Truncate(time.Second)
	if have != int64(o.rows) {
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
	} else {
		end = newest
	}
	s, err := pgstore.OpenWithOptions(ctx, o.dsn, pgstore.Options{Schema: o.schema, DaysBack: o.days + 1, DaysAhead: 1,
		Now: func() time.Time { return end }}, nil)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if have != int64(o.rows) {
		fmt.Fprintf(out, "postgres: writing %d rows to schema %s (COPY)\n", o.rows, o.schema)
		start := time.Now()
		if err := load(ctx, o, out, "postgres", end, s.WriteBatch); err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "postgres: loaded in %v\n", time.Since(start).Round(time.Second))
		// Autovacuum would get here on its own after a bulk insert; do it
		// now so that plans and visibility are those of a settled table.
		start = time.Now()
		if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) "+schema+".request_log"); err != nil {
			return nil, fmt.Errorf("postgres: vacuum: %w", err)
		}
		fmt.Fprintf(out, "postgres: vacuum analyze in %v\n", time.Since(start).Round(time.Second))
	} else {
		fmt.Fprintf(out, "postgres: reusing schema %s (%d rows)\n", o.schema, have)
	}
	var size string
	if err := conn.QueryRow(ctx, `SELECT pg_size_pretty(SUM(pg_total_relation_size(c.oid))) FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass($1)`, o.schema+".request_log").Scan(&size); err == nil {
		fmt.Fprintf(out, "postgres: table and indexes are %s\n", size)
	}
	if err := conn.QueryRow(ctx, "SELECT MAX(time) FROM "+schema+".request_log").Scan(&newest); err != nil {
		return nil, err
	}

	if o.explain {
		if err := explain(ctx, out, s.DB(), kql.Postgres, newest); err != nil {
			return nil, err
		}
	}
	fmt.Fprintln(out, "postgres: as shipped (migration indexes)")
	ms := timeQueries(ctx, o, out, "PostgreSQL", "as shipped", s.DB(), kql.Postgres, newest)
	if !o.indexes {
		return ms, nil
	}
	for _, v := range variants[kql.Postgres] {
		start := time.Now()
		for _, stmt := range v.stmts {
			if _, err := conn.Exec(ctx, "SET search_path = "+schema+"; "+stmt); err != nil {
				return nil, fmt.Errorf("postgres: %s: %w", stmt, err)
			}
		}
		fmt.Fprintf(out, "postgres: %s applied in %v\n", v.name, time.Since(start).Round(time.Second))
		if o.explain {
			if err := explain(ctx, out, s.DB(), kql.Postgres, newest); err != nil {
				return nil, err
			}
		}
		ms = append(ms, timeQueries(ctx, o, out, "PostgreSQL", v.name, s.DB(), kql.Postgres, newest)...)
	}
	if o.keepSchema {
		_, err = conn.Exec(ctx, "DROP INDEX IF EXISTS "+schema+".bench_time_cover")
	}
	return ms, err
}
