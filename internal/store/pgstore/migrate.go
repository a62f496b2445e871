package pgstore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/moat-gw/moat/internal/reqlog"
)

// migration is one versioned schema step. Pending steps are applied in
// order, each once, and recorded in schema_migrations.
type migration struct {
	version int    // 1, 2, 3, ... with no gaps
	name    string // short description, recorded for operators
	sql     string // one or more statements, run with the simple protocol
}

// migrations returns the schema history, oldest first.
//
// This is the extension point for every feature that stores state (API keys,
// role assignments, the audit log, quotas): append a step with the next
// version number, and add the same feature to sqlitestore's list. Never edit,
// reorder or remove a step once it has shipped, since databases in the field
// have already applied it; change the schema with a new step instead. A new
// request_log column needs a step here as well as an entry in
// reqlog.Columns; a test checks that the two agree. ALTER TABLE on the
// partitioned request_log reaches every partition.
func migrations() []migration {
	return []migration{
		{
			version: 1,
			name:    "request_log",
			// Partitioned by UTC day; the store creates the day partitions
			// (partition.go). The default partition catches rows for days
			// without one, so an insert never fails for want of a partition.
			// A primary key on a partitioned table must include the
			// partition key, hence (id, time); it also serves After.
			sql: `
CREATE TABLE request_log (
	id                bigserial        NOT NULL,
	time              timestamptz      NOT NULL,
	request_id        text             NOT NULL DEFAULT '',
	caller            text             NOT NULL DEFAULT '',
	auth_type         text             NOT NULL DEFAULT '',
	client_ip         text             NOT NULL DEFAULT '',
	listener          text             NOT NULL DEFAULT '',
	deployment        text             NOT NULL DEFAULT '',
	model             text             NOT NULL DEFAULT '',
	upstream          text             NOT NULL DEFAULT '',
	operation         text             NOT NULL DEFAULT '',
	api_version       text             NOT NULL DEFAULT '',
	method            text             NOT NULL DEFAULT '',
	path              text             NOT NULL DEFAULT '',
	status            bigint           NOT NULL DEFAULT 0,
	upstream_status   bigint           NOT NULL DEFAULT 0,
	error_kind        text             NOT NULL DEFAULT '',
	error_message     text             NOT NULL DEFAULT '',
	total_ms          double precision NOT NULL DEFAULT 0,
	upstream_ms       double precision NOT NULL DEFAULT 0,
	first_byte_ms     double precision NOT NULL DEFAULT 0,
	prompt_tokens     bigint           NOT NULL DEFAULT 0,
	completion_tokens bigint           NOT NULL DEFAULT 0,
	total_tokens      bigint           NOT NULL DEFAULT 0,
	tokens_estimated  boolean          NOT NULL DEFAULT false,
	streamed          boolean          NOT NULL DEFAULT false,
	request_bytes     bigint           NOT NULL DEFAULT 0,
	response_bytes    bigint           NOT NULL DEFAULT 0,
	region            text             NOT NULL DEFAULT '',
	attempts          bigint           NOT NULL DEFAULT 0,
	request_body      text             NOT NULL DEFAULT '',
	response_body     text             NOT NULL DEFAULT '',
	PRIMARY KEY (id, time)
) PARTITION BY RANGE (time);
CREATE TABLE request_log_default PARTITION OF request_log DEFAULT;
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
			// audit log (see package audit). NULL expires_at/revoked_at
			// mean never. The audit log is append-only: triggers refuse
			// UPDATE, DELETE and TRUNCATE (deliberate tampering that drops
			// them is still caught by the hash chain). details is text,
			// not jsonb, because the hash covers its exact bytes. seq is
			// assigned by the chain under an advisory lock, not by a
			// sequence.
			sql: `
CREATE TABLE api_keys (
	id          text        PRIMARY KEY,
	name        text        NOT NULL DEFAULT '',
	owner       text        NOT NULL DEFAULT '',
	description text        NOT NULL DEFAULT '',
	hash        bytea       NOT NULL UNIQUE,
	deployments text[]      NOT NULL DEFAULT '{}',
	operations  text[]      NOT NULL DEFAULT '{}',
	expires_at  timestamptz,
	revoked_at  timestamptz,
	created_at  timestamptz NOT NULL,
	limit_tpm   bigint      NOT NULL DEFAULT 0,
	limit_rpm   bigint      NOT NULL DEFAULT 0
);
CREATE TABLE role_assignments (
	id         text        PRIMARY KEY,
	role       text        NOT NULL,
	principal  text        NOT NULL,
	scope      text        NOT NULL DEFAULT '/',
	created_at timestamptz NOT NULL,
	created_by text        NOT NULL DEFAULT ''
);
CREATE TABLE audit_log (
	seq       bigint      PRIMARY KEY,
	time      timestamptz NOT NULL,
	actor     text        NOT NULL,
	action    text        NOT NULL,
	target    text        NOT NULL DEFAULT '',
	details   text        NOT NULL DEFAULT '{}',
	client_ip text        NOT NULL DEFAULT '',
	prev_hash text        NOT NULL,
	hash      text        NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
`,
		},
		{
			version: 3,
			name:    "request_log_time_cover",
			// KQL's "desc" sorts DESC NULLS LAST, which a backward scan of a
			// NULLS FIRST index serves; the plain ascending index made
			// "top 50 by TimeGenerated desc" sort the whole table (15.7 s at
			// 10M rows, 7.8 ms with this index). The included columns let the
			// common aggregations read the index alone (docs/benchmarks.md).
			sql: `
CREATE INDEX request_log_time_cover ON request_log (time NULLS FIRST) INCLUDE (caller, deployment, status, total_tokens, total_ms);
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
			name:    "identity_notify",
			// Every committed change to a key or a role assignment is
			// announced on the moat_identity channel, so that every replica
			// drops its cached copy at once (notify.go). Channels are
			// database-wide, so the payload starts with the schema:
			// "<schema>/key/<id>", "<schema>/assignment/<id>" or
			// "<schema>/all/" after a TRUNCATE.
			sql: identityNotifySQL,
		},
		{
			version: 6,
			name:    "replicas",
			// The replica that served each call (config replica.name), a
			// rollup dimension too, so "by replica" over a week reads the
			// rollup: the rollup is rebuilt from the log with the new key
			// (rows logged before hold ''). replicas is the fleet's
			// heartbeat table read by moat status: one row per replica name.
			sql: `
ALTER TABLE request_log ADD COLUMN replica text NOT NULL DEFAULT '';
DROP TABLE request_log_rollup;
` + rollupSchemaSQL(reqlog.RollupDimsWithout(reqlog.TeamsAndCostDims()...), reqlog.RollupMeasuresWithout(reqlog.TeamsAndCostMeasures()...)) + `
CREATE TABLE replicas (
	name        text        PRIMARY KEY,
	version     text        NOT NULL DEFAULT '',
	fingerprint text        NOT NULL DEFAULT '',
	limits      text        NOT NULL DEFAULT '',
	state       text        NOT NULL DEFAULT '',
	started_at  timestamptz NOT NULL,
	last_seen   timestamptz NOT NULL
);
`,
		},
		{
			version: 7,
			name:    "request_log_request_id_unique",
			// WriteBatch is idempotent on (time, request_id), so that the
			// request log's spool can replay, and its writer retry, a batch
			// the store may already hold (internal/reqlog). A unique index
			// on the partitioned table must include the partition key, time,
			// which the spool keeps exact across replays. Rows that earlier
			// retries duplicated are removed first and their rollup buckets
			// recounted (requestIDUniqueSQL).
			sql: requestIDUniqueSQL(),
		},
		{
			version: 8,
			name:    "request_log_first_token",
			// The time to the first generated content of a call, apart
			// from its first byte: a stream's first event is Azure's
			// prompt-filter event, not a token. Rows logged before hold 0.
			sql: `ALTER TABLE request_log ADD COLUMN first_token_ms double precision NOT NULL DEFAULT 0;`,
		},
		{
			version: 9,
			name:    "pins",
			// Which pool member holds a stored response, an uploaded file
			// or a batch (internal/affinity), shared by every replica so
			// that follow-ups reach the member that created the object.
			// Expired rows are swept by the retention loop.
			sql: `
CREATE TABLE pins (
	id         text        PRIMARY KEY,
	kind       text        NOT NULL,
	deployment text        NOT NULL,
	member     text        NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX pins_expires ON pins (expires_at);
`,
		},
		{
			version: 10,
			name:    "request_log_guardrail",
			// The guardrail rules that matched a call (GuardrailHits).
			// Rows logged before hold ''.
			sql: `ALTER TABLE request_log ADD COLUMN guardrail text NOT NULL DEFAULT '';`,
		},
		{
			version: 11,
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
	name        text        PRIMARY KEY,
	description text        NOT NULL DEFAULT '',
	created_at  timestamptz NOT NULL
);
CREATE TABLE team_members (
	principal  text        PRIMARY KEY,
	team       text        NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE INDEX team_members_team ON team_members (team);
ALTER TABLE api_keys ADD COLUMN team text NOT NULL DEFAULT '';
ALTER TABLE request_log ADD COLUMN key_name text NOT NULL DEFAULT '';
ALTER TABLE request_log ADD COLUMN owner text NOT NULL DEFAULT '';
ALTER TABLE request_log ADD COLUMN team text NOT NULL DEFAULT '';
ALTER TABLE request_log ADD COLUMN cost double precision NOT NULL DEFAULT 0;
ALTER TABLE request_log ADD COLUMN price_version text NOT NULL DEFAULT '';
DROP TABLE request_log_rollup;
` + rollupSchemaSQL(reqlog.RollupDims(), reqlog.RollupMeasures()),
		},
		{
			version: 12,
			name:    "request_log_headers",
			// An allow-listed few of each call's request and response
			// headers, never a credential (Headers). Rows logged before
			// hold ''.
			sql: `ALTER TABLE request_log ADD COLUMN headers text NOT NULL DEFAULT '';`,
		},
	}
}

// migrate creates the schema and schema_migrations if needed and applies
// the pending steps, all in one transaction under the schema's advisory
// lock: replicas starting together wait for the first one, then find
// nothing to do. PostgreSQL's DDL is transactional, so a failed step leaves
// the database as it was.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string, lockKey int64, logger *slog.Logger) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // a no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if schema != "" {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("migrate: create schema: %w", err)
		}
	}
	const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer     PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`
	if _, err := tx.Exec(ctx, createTable); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	steps := migrations()
	var applied []migration
	for _, m := range steps {
		if m.version <= current {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate to version %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return fmt.Errorf("migrate to version %d (%s): record: %w", m.version, m.name, err)
		}
		applied = append(applied, m)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	for _, m := range applied {
		logger.Info("postgres schema migrated", "schema", schema, "version", m.version, "name", m.name)
	}
	if known := steps[len(steps)-1].version; current > known {
		// A newer moat has migrated this database; steps only add, so
		// this binary can still run, but say so.
		logger.Warn("postgres schema is newer than this moat", "schema_version", current, "known_version", known)
	}
	return nil
}
