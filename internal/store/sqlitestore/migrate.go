package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// migration is one versioned schema step. Each is applied once, in order,
// in its own transaction, and recorded in schema_migrations.
type migration struct {
	version int    // 1, 2, 3, ... with no gaps
	name    string // short description, recorded for operators
	sql     string // one or more statements
}

// migrations returns the schema history, oldest first.
//
// This is the extension point for every feature that stores state (API keys,
// role assignments, the audit log, quotas): append a step with the next
// version number, and add the same feature to pgstore's list. Never edit,
// reorder or remove a step once it has shipped, since databases in the field
// have already applied it; change the schema with a new step instead
// (ALTER TABLE ... ADD COLUMN, CREATE TABLE, CREATE INDEX). A new request_log
// column needs a step here as well as an entry in reqlog.Columns; a test
// checks that the two agree.
func migrations() []migration {
	return []migration{
		{
			version: 1,
			name:    "request_log",
			// time is microseconds since the Unix epoch (see TimeEncoding);
			// booleans are 0 or 1. AUTOINCREMENT keeps ids of deleted rows
			// from being reused, so tail cursors (After) never skip rows.
			sql: `
CREATE TABLE request_log (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	time              INTEGER NOT NULL,
	request_id        TEXT    NOT NULL DEFAULT '',
	caller            TEXT    NOT NULL DEFAULT '',
	auth_type         TEXT    NOT NULL DEFAULT '',
	client_ip         TEXT    NOT NULL DEFAULT '',
	listener          TEXT    NOT NULL DEFAULT '',
	deployment        TEXT    NOT NULL DEFAULT '',
	model             TEXT    NOT NULL DEFAULT '',
	upstream          TEXT    NOT NULL DEFAULT '',
	operation         TEXT    NOT NULL DEFAULT '',
	api_version       TEXT    NOT NULL DEFAULT '',
	method            TEXT    NOT NULL DEFAULT '',
	path              TEXT    NOT NULL DEFAULT '',
	status            INTEGER NOT NULL DEFAULT 0,
	upstream_status   INTEGER NOT NULL DEFAULT 0,
	error_kind        TEXT    NOT NULL DEFAULT '',
	error_message     TEXT    NOT NULL DEFAULT '',
	total_ms          REAL    NOT NULL DEFAULT 0,
	upstream_ms       REAL    NOT NULL DEFAULT 0,
	first_byte_ms     REAL    NOT NULL DEFAULT 0,
	prompt_tokens     INTEGER NOT NULL DEFAULT 0,
	completion_tokens INTEGER NOT NULL DEFAULT 0,
	total_tokens      INTEGER NOT NULL DEFAULT 0,
	tokens_estimated  INTEGER NOT NULL DEFAULT 0,
	streamed          INTEGER NOT NULL DEFAULT 0,
	request_bytes     INTEGER NOT NULL DEFAULT 0,
	response_bytes    INTEGER NOT NULL DEFAULT 0,
	region            TEXT    NOT NULL DEFAULT '',
	attempts          INTEGER NOT NULL DEFAULT 0,
	request_body      TEXT    NOT NULL DEFAULT '',
	response_body     TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX request_log_time ON request_log (time);
CREATE INDEX request_log_caller_time ON request_log (caller, time);
CREATE INDEX request_log_deployment_time ON request_log (deployment, time);
`,
		},
		{
			version: 2,
			name:    "identity",
			// Generated API keys (only the hash of each), role assignments
			// made through the management plane, and the hash-chained
			// audit log (see package audit). Times are microseconds since
			// the Unix epoch; NULL expires_at/revoked_at mean never.
			// deployments and operations are JSON arrays of strings. The
			// audit log is append-only: triggers refuse UPDATE and DELETE
			// (deliberate tampering that drops them is still caught by the
			// hash chain). Its seq is assigned by the chain, not by SQLite.
			sql: `
CREATE TABLE api_keys (
	id          TEXT    PRIMARY KEY,
	name        TEXT    NOT NULL DEFAULT '',
	owner       TEXT    NOT NULL DEFAULT '',
	description TEXT    NOT NULL DEFAULT '',
	hash        BLOB    NOT NULL UNIQUE,
	deployments TEXT    NOT NULL DEFAULT '[]',
	operations  TEXT    NOT NULL DEFAULT '[]',
	expires_at  INTEGER,
	revoked_at  INTEGER,
	created_at  INTEGER NOT NULL,
	limit_tpm   INTEGER NOT NULL DEFAULT 0,
	limit_rpm   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE role_assignments (
	id         TEXT    PRIMARY KEY,
	role       TEXT    NOT NULL,
	principal  TEXT    NOT NULL,
	scope      TEXT    NOT NULL DEFAULT '/',
	created_at INTEGER NOT NULL,
	created_by TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE TABLE audit_log (
	seq       INTEGER PRIMARY KEY,
	time      INTEGER NOT NULL,
	actor     TEXT    NOT NULL,
	action    TEXT    NOT NULL,
	target    TEXT    NOT NULL DEFAULT '',
	details   TEXT    NOT NULL DEFAULT '{}',
	client_ip TEXT    NOT NULL DEFAULT '',
	prev_hash TEXT    NOT NULL,
	hash      TEXT    NOT NULL
) STRICT;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;
`,
		},
		{
			version: 3,
			name:    "request_log_time_cover",
			// A time index that also covers the columns the common queries
			// aggregate, so 24-hour summaries read the index alone; measured
			// with Optimize's statistics at 10M rows (docs/benchmarks.md).
			sql: `
CREATE INDEX request_log_time_cover ON request_log (time, caller, deployment, status, total_tokens, total_ms);
DROP INDEX request_log_time;
`,
		},
		{
			version: 4,
			name:    "request_log_rollup",
			// The hourly and daily rollup (reqlog.RollupTable), filled from
			// the log already stored; from here on WriteBatch keeps it in
			// step in the same transaction. Week-long summaries read it
			// instead of millions of rows (docs/benchmarks.md).
			sql: rollupSchemaSQL(reqlog.RollupDimsWithout(append([]string{"replica"}, reqlog.TeamsAndCostDims()...)...), reqlog.RollupMeasuresWithout(reqlog.TeamsAndCostMeasures()...)),
		},
		{
			version: 5,
			name:    "replicas",
			// The replica that served each call (config replica.name), a
			// rollup dimension too, so "by replica" over a week reads the
			// rollup: the rollup is rebuilt from the log with the new key
			// (rows logged before hold ''). replicas is the fleet's
			// heartbeat table read by moat status: one row per replica
			// name, times in microseconds since the Unix epoch.
			sql: `
ALTER TABLE request_log ADD COLUMN replica TEXT NOT NULL DEFAULT '';
DROP TABLE request_log_rollup;
` + rollupSchemaSQL(reqlog.RollupDimsWithout(reqlog.TeamsAndCostDims()...), reqlog.RollupMeasuresWithout(reqlog.TeamsAndCostMeasures()...)) + `
CREATE TABLE replicas (
	name        TEXT    PRIMARY KEY,
	version     TEXT    NOT NULL DEFAULT '',
	fingerprint TEXT    NOT NULL DEFAULT '',
	limits      TEXT    NOT NULL DEFAULT '',
	state       TEXT    NOT NULL DEFAULT '',
	started_at  INTEGER NOT NULL,
	last_seen   INTEGER NOT NULL
) STRICT;
`,
		},
		{
			version: 6,
			name:    "request_log_request_id_unique",
			// WriteBatch is idempotent on (time, request_id), so that the
			// request log's spool can replay, and its writer retry, a batch
			// the store may already hold (internal/reqlog). Rows that earlier
			// retries duplicated are removed first and their rollup buckets
			// recounted (requestIDUniqueSQL).
			sql: requestIDUniqueSQL(),
		},
		{
			version: 7,
			name:    "request_log_first_token",
			// The time to the first generated content of a call, apart
			// from its first byte: a stream's first event is Azure's
			// prompt-filter event, not a token. Rows logged before hold 0.
			sql: `ALTER TABLE request_log ADD COLUMN first_token_ms REAL NOT NULL DEFAULT 0;`,
		},
		{
			version: 8,
			name:    "pins",
			// Which pool member holds a stored response, an uploaded file
			// or a batch (internal/affinity), shared by every replica so
			// that follow-ups reach the member that created the object.
			// Times in microseconds since the Unix epoch; expired rows are
			// swept by the retention loop.
			sql: `
CREATE TABLE pins (
	id         TEXT    PRIMARY KEY,
	kind       TEXT    NOT NULL,
	deployment TEXT    NOT NULL,
	member     TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX pins_expires ON pins (expires_at);
`,
		},
		{
			version: 9,
			name:    "request_log_guardrail",
			// The guardrail rules that matched a call (GuardrailHits).
			// Rows logged before hold ''.
			sql: `ALTER TABLE request_log ADD COLUMN guardrail TEXT NOT NULL DEFAULT '';`,
		},
		{
			version: 10,
			name:    "teams_and_cost",
			// Teams own keys and principals (package team): api_keys.team
			// names a key's team, team_members maps an Entra group, app
			// or object ID ("group:<id>") to one team. Every request-log
			// row carries the key's name and owner, the caller's team,
			// the call's cost and the price table version it was priced
			// with (package cost). Rows logged before hold '' and 0. The
			// rollup is rebuilt with the key name, team and price version
			// as dimensions and the cost as a measure, so chargeback over
			// months reads it (package report).
			sql: `
CREATE TABLE teams (
	name        TEXT    PRIMARY KEY,
	description TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL
) STRICT;
CREATE TABLE team_members (
	principal  TEXT    PRIMARY KEY,
	team       TEXT    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX team_members_team ON team_members (team);
ALTER TABLE api_keys ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE request_log ADD COLUMN key_name TEXT NOT NULL DEFAULT '';
ALTER TABLE request_log ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE request_log ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE request_log ADD COLUMN cost REAL NOT NULL DEFAULT 0;
ALTER TABLE request_log ADD COLUMN price_version TEXT NOT NULL DEFAULT '';
DROP TABLE request_log_rollup;
` + rollupSchemaSQL(reqlog.RollupDims(), reqlog.RollupMeasures()),
		},
		{
			version: 11,
			name:    "request_log_headers",
			// An allow-listed few of each call's request and response
			// headers, never a credential (Headers). Rows logged before
			// hold ''.
			sql: `ALTER TABLE request_log ADD COLUMN headers TEXT NOT NULL DEFAULT '';`,
		},
		{
			version: 12,
			name:    "identity_changes",
			// A log of key and assignment changes, filled by triggers in
			// the writing transaction whatever process writes, that the
			// change feed polls (WatchChanges): the key cache then trusts
			// entries for an hour and applies revocations as they come,
			// as with PostgreSQL's LISTEN/NOTIFY.
			sql: identityChangesSQL(),
		},
		{
			version: 13,
			name:    "request_log_rollup_state",
			// How far the rollup counts the log: WriteBatch now holds the
			// rollup of the newest records in memory and adds it to the
			// table every 30 s (pendingRollup), and a process that
			// stopped before it did has the next recount the buckets of
			// the rows past through_id at its first flush. Until now
			// every batch kept the rollup in step, so it counts every row
			// there is. A step that rebuilds the rollup from the whole
			// log must set through_id to the largest id too.
			sql: `
CREATE TABLE ` + rollupStateTable + ` (
	one        INTEGER PRIMARY KEY CHECK (one = 1),
	through_id INTEGER NOT NULL
) STRICT;
INSERT INTO ` + rollupStateTable + ` (one, through_id) SELECT 1, coalesce(max(id), 0) FROM request_log;
`,
		},
		{
			version: 14,
			name:    "request_log_by_caller",
			// The caller index in bulk (reqlog.CallerIndexTable, see
			// callerindex.go) replaces the (caller, time) index, which
			// cost a random leaf per row. It starts with every row there
			// is; a trigger keeps deletions (retention) out of it. An
			// older moat still runs on this schema, without the index:
			// its rows past through_id are indexed when this one next
			// flushes.
			sql: `
CREATE TABLE ` + reqlog.CallerIndexTable + ` (
	caller TEXT    NOT NULL,
	time   INTEGER NOT NULL,
	id     INTEGER NOT NULL,
	PRIMARY KEY (caller, time, id)
) WITHOUT ROWID, STRICT;
CREATE TABLE ` + reqlog.CallerIndexStateTable + ` (
	one        INTEGER PRIMARY KEY CHECK (one = 1),
	through_id INTEGER NOT NULL
) STRICT;
INSERT INTO ` + reqlog.CallerIndexTable + ` (caller, time, id) SELECT caller, time, id FROM request_log ORDER BY caller, time, id;
INSERT INTO ` + reqlog.CallerIndexStateTable + ` (one, through_id) SELECT 1, coalesce(max(id), 0) FROM request_log;
CREATE TRIGGER request_log_by_caller_delete AFTER DELETE ON request_log BEGIN
	DELETE FROM ` + reqlog.CallerIndexTable + ` WHERE caller = old.caller AND time = old.time AND id = old.id;
END;
DROP INDEX request_log_caller_time;
`,
		},
	}
}

// migrate creates schema_migrations if needed and applies the steps that
// the database lacks. Every transaction on db begins IMMEDIATE, so two
// processes opening the same file apply each step once.
func migrate(ctx context.Context, db *sql.DB, logger *slog.Logger) error {
	const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`
	if _, err := db.ExecContext(ctx, createTable); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	steps := migrations()
	for _, m := range steps {
		applied, err := applyMigration(ctx, db, m)
		if err != nil {
			return fmt.Errorf("migrate to version %d (%s): %w", m.version, m.name, err)
		}
		if applied {
			logger.Info("sqlite schema migrated", "version", m.version, "name", m.name)
		}
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	if known := steps[len(steps)-1].version; current > known {
		// A newer moat has migrated this database; steps only add, so
		// this binary can still run, but say so.
		logger.Warn("sqlite schema is newer than this moat", "schema_version", current, "known_version", known)
	}
	return nil
}

// applyMigration applies m unless it is already recorded, and reports
// whether it did.
func applyMigration(ctx context.Context, db *sql.DB, m migration) (applied bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, tx.Rollback()
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, EncodeTime(time.Now())); err != nil {
		return false, err
	}
	return true, tx.Commit()
}
