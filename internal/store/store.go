// Package store opens the database moat keeps, for the process and for
// every CLI command alike. Store is the set of interfaces both backends
// (sqlitestore, pgstore) implement, so callers hold one typed value instead
// of asking a reqlog.Store what else it is; the two optional abilities are
// asked here, in ChangeFeed and Optimize.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/moat-gw/moat/internal/admin"
	"github.com/moat-gw/moat/internal/affinity"
	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/fleet"
	"github.com/moat-gw/moat/internal/kql"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/pgstore"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
	"github.com/moat-gw/moat/internal/team"
)

// Store is everything moat keeps in its database: the request log, stored
// keys, role assignments and their audit log, teams, the fleet's replicas,
// session pins, and the SQL handle KQL queries run on.
type Store interface {
	reqlog.Store
	reqlog.BodyBlanker
	admin.Store
	fleet.Store
	affinity.Store
	team.Store
	// DB is the handle read-only queries (KQL) run on.
	DB() *sql.DB
	// Dialect is "sqlite" or "postgres".
	Dialect() string
}

var (
	_ Store = (*sqlitestore.Store)(nil)
	_ Store = (*pgstore.Store)(nil)
)

// Options say how a caller uses the store.
type Options struct {
	// Logger receives the store's own log lines; nil discards them.
	Logger *slog.Logger
	// Existing refuses to create a SQLite file that is not there yet, for
	// commands that only read what moat has logged.
	Existing bool
}

// Open opens the store cfg configures (log.store): PostgreSQL at
// log.postgres_dsn, or SQLite at log.sqlite_path (default data_dir/moat.db).
func Open(ctx context.Context, cfg *config.Config, o Options) (Store, error) {
	if cfg.Log.Store == "postgres" {
		st, err := pgstore.Open(ctx, cfg.Log.PostgresDSN.Value(), o.Logger)
		if err != nil {
			return nil, fmt.Errorf("open postgres log store: %w", err)
		}
		return st, nil
	}
	path := SQLitePath(cfg)
	if o.Existing {
		if fi, err := os.Stat(path); err != nil || fi.IsDir() {
			return nil, fmt.Errorf("no request log at %s (has moat served from this folder?)", path)
		}
	}
	st, err := sqlitestore.Open(ctx, path, o.Logger)
	if err != nil {
		return nil, fmt.Errorf("open sqlite log store: %w", err)
	}
	return st, nil
}

// SQLitePath is where the SQLite store of cfg lives.
func SQLitePath(cfg *config.Config) string {
	if cfg.Log.SQLitePath != "" {
		return cfg.Log.SQLitePath
	}
	return filepath.Join(cfg.DataDir, "moat.db")
}

// ChangeFeed is st's feed of key and assignment changes (PostgreSQL's
// LISTEN/NOTIFY, SQLite's polled change log), or nil when the backend has
// none (then the key cache's TTL and the periodic assignment refresh apply).
func ChangeFeed(st Store) auth.ChangeFeed {
	f, _ := st.(auth.ChangeFeed)
	return f
}

// KQL is what the query engine needs of st: the SQL handle and its dialect.
func KQL(st Store) (*sql.DB, kql.Dialect) {
	if st.Dialect() == "postgres" {
		return st.DB(), kql.Postgres
	}
	return st.DB(), kql.SQLite
}

// FlushRollup adds to st's rollup table what st holds of it in memory
// (reqlog.RollupFlusher), so that a query of the rollup that follows counts
// every record written before; elsewhere it does nothing.
func FlushRollup(ctx context.Context, st Store) error {
	if f, ok := st.(reqlog.RollupFlusher); ok {
		return f.FlushRollup(ctx)
	}
	return nil
}

// KQLOptions returns the options a KQL query of st compiles with: the
// rollup, brought up to date first (FlushRollup), or, when that fails, the
// log alone (slower but exact) and the error, for the caller to report.
func KQLOptions(ctx context.Context, st Store) (kql.Options, error) {
	if err := FlushRollup(ctx, st); err != nil {
		return kql.Options{}, err
	}
	return kql.Options{Rollup: true}, nil
}

// Optimize lets st refresh its planner statistics where the backend needs
// to be asked (SQLite's PRAGMA optimize); elsewhere it does nothing.
func Optimize(ctx context.Context, st Store) error {
	if o, ok := st.(interface{ Optimize(context.Context) error }); ok {
		return o.Optimize(ctx)
	}
	return nil
}
