// Package sqlitestore keeps moat's state in one SQLite file (pure Go driver,
// no cgo), for single-node deployments. It implements reqlog.Store and gives
// the query engine read access through DB.
//
// The database runs in WAL mode with synchronous=NORMAL: readers never block
// the writer, and a crash loses at most the last transactions, never
// consistency; the writer checkpoints every walCheckpointPages pages.
// Writes go through a pool of one connection (SQLite has one writer at a
// time anyway, and queueing in Go beats spinning on SQLITE_BUSY); reads use
// a separate read-only pool. The request log's insert, the one statement
// run per call, binds its values through SQLite's API on the write
// connection's own handle rather than through the driver (cbind.go).
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"

	"modernc.org/sqlite"
)

// Dialect is the SQL dialect name that Store.Dialect returns.
const Dialect = "sqlite"

// busyTimeoutMs is how long a connection waits for another process's lock
// before it reports SQLITE_BUSY.
const busyTimeoutMs = 5000

// Store is a SQLite database holding moat's state. It is safe for
// concurrent use.
type Store struct {
	write  *sql.DB // one connection: every write and migration
	read   *sql.DB // read-only connections, for After and the query engine
	logger *slog.Logger

	selectSQL string // "SELECT id, <columns> FROM request_log"

	pending pendingRollup // the rollup of records written, not yet in its table

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating it if needed, with its folder) the database at path
// and brings its schema up to date. A nil logger discards the store's logs.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	return open(ctx, path, logger, options{})
}

// options are the store's settings for tests.
type options struct {
	driverBind bool // writeConnector.driverBind
}

func open(ctx context.Context, path string, logger *slog.Logger, o options) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if path == "" || strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open sqlite store: invalid path %q (want a plain file path)", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("open sqlite store: %w", err)
		}
	}

	if err := RegisterFunctions(); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	insertSQL, selectSQL := requestLogSQL()
	base, err := sqlite.NewConnector(dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	write := sql.OpenDB(&writeConnector{Connector: base, insertSQL: insertSQL, driverBind: o.driverBind})
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)

	s := &Store{write: write, logger: logger, selectSQL: selectSQL}
	s.pending.through, s.pending.every, s.pending.indexRows = -1, rollupFlushEvery, callerIndexRows
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	if err := migrate(ctx, write, logger); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	// Prepared now, after the migrations, so that a statement that does
	// not compile fails Open rather than the first write.
	if err := s.withWriteConn(ctx, func(c *writeConn) error {
		_, err := c.statements(ctx)
		return err
	}); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}

	// The read pool opens after the writer has switched the file to WAL
	// (a persistent setting), so readers never see a rollback journal.
	read, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(readers)
	read.SetMaxIdleConns(readers)
	read.SetConnMaxLifetime(time.Hour) // picks up statistics refreshed by Optimize
	if err := read.PingContext(ctx); err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	s.read = read
	return s, nil
}

// walCheckpointPages is how many pages the WAL grows to before the writer
// copies them into the database (SQLite's default is 1,000, 4 MB). Ten
// times the default copies a page once for several commits that dirtied
// it. Measured when a (caller, time) index still scattered every row of
// 10,000 callers over its leaves (migration 14 replaced it):
// BenchmarkSQLiteWritePerRecord about 27 → 20 µs a row with 10,000 callers,
// 14–16 → 13–14 with one (docs/benchmarks.md), for a WAL of up to ~40 MB
// beside the database.
const walCheckpointPages = 10000

// dsn builds the modernc.org/sqlite data source name for path. Writers begin
// transactions IMMEDIATE, so a transaction never fails halfway on a lock
// upgrade; readers are query_only.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMs))
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walCheckpointPages))
		q.Set("_txlock", "immediate")
	}
	return path + "?" + q.Encode()
}

// Optimize refreshes the query planner's statistics where they are stale
// (PRAGMA optimize runs ANALYZE only when needed), then marks the
// (deployment, time) index noskipscan: with statistics but without that
// mark, SQLite skip-scans it for time-range summaries and is slower than
// with no statistics at all (so it did the (caller, time) index that
// migration 14 replaced with reqlog.CallerIndexTable). Measured at 10M
// rows, statistics + the covering time index + noskipscan took 24-hour
// summaries from 5.4 s to 1.8 s (docs/benchmarks.md). moat runs it at start and hourly; read
// connections are recycled hourly so they load the new statistics.
func (s *Store) Optimize(ctx context.Context) error {
	if _, err := s.write.ExecContext(ctx, "PRAGMA optimize=0x10002"); err != nil {
		return fmt.Errorf("optimize: %w", err)
	}
	var n int
	if err := s.write.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'").Scan(&n); err != nil || n == 0 {
		return err // no statistics yet: nothing to mark
	}
	res, err := s.write.ExecContext(ctx, `UPDATE sqlite_stat1 SET stat = stat || ' noskipscan'
WHERE tbl = 'request_log' AND idx = 'request_log_deployment_time' AND stat NOT LIKE '%noskipscan%'`)
	if err != nil {
		return fmt.Errorf("optimize: mark indexes: %w", err)
	}
	if changed, _ := res.RowsAffected(); changed > 0 {
		if _, err := s.write.ExecContext(ctx, "ANALYZE sqlite_schema"); err != nil {
			return fmt.Errorf("optimize: reload statistics: %w", err)
		}
	}
	return nil
}

// DB returns a read-only pool on the database, for the query engine. Its
// time column is encoded as described by TimeEncoding. The pool belongs to
// the Store: do not close it.
func (s *Store) DB() *sql.DB { return s.read }

// Dialect returns "sqlite", so that SQL generators pick this dialect.
func (s *Store) Dialect() string { return Dialect }

// withWriteConn runs f on the write pool's connection, which no one else
// uses until f returns; f must not keep it, nor use it from another
// goroutine.
func (s *Store) withWriteConn(ctx context.Context, f func(*writeConn) error) error {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return err
	}
	// Close only hands the connection back to the pool; Raw has reported
	// what went wrong on it.
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*writeConn)
		if !ok {
			return fmt.Errorf("write pool connection is a %T", dc)
		}
		return f(c)
	})
}

// Close adds what the rollup holds in memory to its table, then closes
// both pools. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = errors.Join(s.closeRollup(), s.read.Close(), s.write.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("close sqlite store: %w", s.closeErr)
		}
	})
	return s.closeErr
}

var (
	_ reqlog.Store         = (*Store)(nil)
	_ reqlog.RollupFlusher = (*Store)(nil)
)
