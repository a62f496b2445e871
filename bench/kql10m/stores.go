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

// modes are the ways each store is measured: the log alone, as moat
// compiled KQL before the rollup, and with the rollup, as moat ships.
var modes = []struct {
	name string
	opts kql.Options
}{
	{"log only", kql.Options{}},
	{"rollup", kql.Options{Rollup: true}},
}

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
		if o.backfill {
			// Undo the rollup's migration, then time it: what an upgrade
			// to a moat with the rollup costs at this size.
			s.Close()
			w, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				return nil, err
			}
			_, err = w.ExecContext(ctx, "DROP TABLE IF EXISTS "+reqlog.RollupTable+"; DELETE FROM schema_migrations WHERE version = 4")
			w.Close()
			if err != nil {
				return nil, fmt.Errorf("sqlite: undo rollup migration: %w", err)
			}
			start := time.Now()
			if s, err = sqlitestore.Open(ctx, path, nil); err != nil {
				return nil, err
			}
			defer s.Close()
			fmt.Fprintf(out, "sqlite: rollup migration (backfill of %d rows) took %v\n", have, time.Since(start).Round(time.Millisecond))
		}
	}
	if fi, err := os.Stat(path); err == nil {
		fmt.Fprintf(out, "sqlite: file is %.2f GB\n", float64(fi.Size())/1e9)
	}
	if err := rollupRows(ctx, out, "sqlite", s.DB()); err != nil {
		return nil, err
	}
	var newest int64
	if err := s.DB().QueryRowContext(ctx, "SELECT MAX(time) FROM request_log").Scan(&newest); err != nil {
		return nil, err
	}
	now := sqlitestore.DecodeTime(newest)

	// As moat does at start: statistics, and the noskipscan marks.
	start := time.Now()
	if err := s.Optimize(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "sqlite: Optimize took %v\n", time.Since(start).Round(time.Millisecond))
	var ms []measurement
	for _, m := range modes {
		if o.explain {
			if err := explain(ctx, out, s.DB(), kql.SQLite, now, m.opts); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(out, "sqlite: %s\n", m.name)
		ms = append(ms, timeQueries(ctx, o, out, "SQLite", m.name, s.DB(), kql.SQLite, now, m.opts)...)
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
		if o.backfill {
			// Undo the rollup's migration; the open below times it.
			if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+schema+"."+reqlog.RollupTable+
				"; DELETE FROM "+schema+".schema_migrations WHERE version = 4"); err != nil {
				return nil, fmt.Errorf("postgres: undo rollup migration: %w", err)
			}
		}
	}
	openStart := time.Now()
	s, err := pgstore.OpenWithOptions(ctx, o.dsn, pgstore.Options{Schema: o.schema, DaysBack: o.days + 1, DaysAhead: 1,
		Now: func() time.Time { return end }}, nil)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if have == int64(o.rows) && o.backfill {
		fmt.Fprintf(out, "postgres: rollup migration (backfill of %d rows) took %v\n", have, time.Since(openStart).Round(time.Millisecond))
	}
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
	if err := rollupRows(ctx, out, "postgres", s.DB()); err != nil {
		return nil, err
	}
	if err := conn.QueryRow(ctx, "SELECT MAX(time) FROM "+schema+".request_log").Scan(&newest); err != nil {
		return nil, err
	}

	var ms []measurement
	for _, m := range modes {
		if o.explain {
			if err := explain(ctx, out, s.DB(), kql.Postgres, newest, m.opts); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(out, "postgres: %s\n", m.name)
		ms = append(ms, timeQueries(ctx, o, out, "PostgreSQL", m.name, s.DB(), kql.Postgres, newest, m.opts)...)
	}
	return ms, err
}

// rollupRows reports how many buckets the rollup holds per grain.
func rollupRows(ctx context.Context, out io.Writer, what string, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "SELECT grain, COUNT(*) FROM "+reqlog.RollupTable+" GROUP BY grain ORDER BY grain")
	if err != nil {
		return fmt.Errorf("%s: count rollup rows: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		var grain, n int64
		if err := rows.Scan(&grain, &n); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: rollup has %d rows of %v\n", what, n, time.Duration(grain)*time.Second)
	}
	return rows.Err()
}
