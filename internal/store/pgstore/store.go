// Package pgstore keeps moat's state in PostgreSQL, for deployments with
// several replicas or a lot of traffic. It implements reqlog.Store and gives
// the query engine read access through DB.
//
// Several moat replicas may share one database: schema changes (migrations,
// partition upkeep) run under a PostgreSQL advisory lock, and writes are
// plain inserts. The request log is range-partitioned by UTC day (see
// partition.go), so retention drops whole days instead of deleting rows.
package pgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/moat-gw/moat/internal/reqlog"
)

// Dialect is the SQL dialect name that Store.Dialect returns.
const Dialect = "postgres"

// Default partition horizons, used for zero Options fields.
const (
	DefaultDaysAhead = 7
	DefaultDaysBack  = 7
)

// Options tunes a Store. The zero value suits production.
type Options struct {
	// Schema holds moat's tables. It is created when missing and becomes
	// the search_path of every connection, DB() included, so that SQL can
	// name tables unqualified. Empty keeps the DSN's search_path (normally
	// public). Tests use a schema each to stay isolated.
	Schema string
	// DaysAhead is how many future days of partitions the store keeps
	// created, so that a partition exists before its first row.
	DaysAhead int
	// DaysBack is how old a record may be and still get a partition of its
	// own created on write; older ones go to the default partition.
	DaysBack int
	// Now is the clock for partition upkeep; nil means time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.DaysAhead <= 0 {
		o.DaysAhead = DefaultDaysAhead
	}
	if o.DaysBack <= 0 {
		o.DaysBack = DefaultDaysBack
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Store is a PostgreSQL database holding moat's state. It is safe for
// concurrent use, also by several processes.
type Store struct {
	pool    *pgxpool.Pool
	db      *sql.DB
	logger  *slog.Logger
	opts    Options
	lockKey int64 // advisory lock for schema changes in this schema

	selectSQL string // "SELECT id, <columns> FROM request_log"

	mu         sync.Mutex
	days       map[int64]bool      // day numbers (see dayOf) that have a partition
	retryAfter map[int64]time.Time // days whose partition could not be made, and when to try again

	closeOnce sync.Once
}

// Open connects to the database at dsn (a postgres:// URL or key=value
// string) with default Options.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*Store, error) {
	return OpenWithOptions(ctx, dsn, Options{}, logger)
}

// OpenWithOptions connects to the database at dsn, brings the schema up to
// date and creates the coming days' partitions. A nil logger discards the
// store's logs.
func OpenWithOptions(ctx context.Context, dsn string, opts Options, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// Parse errors quote the DSN, and pgx's password redaction is best
		// effort, so say no more than this.
		return nil, errors.New("open postgres store: cannot parse the dsn")
	}
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	s := &Store{
		pool:       pool,
		logger:     logger,
		opts:       opts,
		lockKey:    lockKey(opts.Schema),
		days:       map[int64]bool{},
		retryAfter: map[int64]time.Time{},
	}
	_, s.selectSQL = requestLogSQL()
	if err := migrate(ctx, pool, opts.Schema, s.lockKey, logger); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	if err := s.loadPartitions(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	today := dayOf(opts.Now())
	s.ensurePartitions(ctx, today-1, today+int64(opts.DaysAhead), nil)
	s.db = stdlib.OpenDBFromPool(pool)
	return s, nil
}

// lockKey derives the advisory lock key that serializes schema changes
// among the replicas sharing schema.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("moat schema lock\x00" + schema))
	return int64(h.Sum64())
}

// requestLogSQL returns the request_log column list and select statement.
func requestLogSQL() (cols []string, sel string) {
	for _, c := range reqlog.Columns() {
		cols = append(cols, c.SQL)
	}
	return cols, "SELECT id, " + strings.Join(cols, ", ") + " FROM " + reqlog.SQLTable
}

// DB returns a database/sql handle on the store's pool, for the query
// engine; its connections use the store's schema. It belongs to the Store:
// do not close it.
func (s *Store) DB() *sql.DB { return s.db }

// Pool returns the store's pgx pool, for code that wants pgx directly (COPY,
// batches). It belongs to the Store: do not close it.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Dialect returns "postgres", so that SQL generators pick this dialect.
func (s *Store) Dialect() string { return Dialect }

// Close closes the pool. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.db.Close() // only releases the connector; cannot fail
		s.pool.Close()
	})
	return nil
}

var _ reqlog.Store = (*Store)(nil)
