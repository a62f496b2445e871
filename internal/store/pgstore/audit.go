package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/audit"
)

const auditColumns = `seq, time, actor, action, target, details, client_ip, prev_hash, hash`

// auditLockKey is the advisory lock that serializes audit appends among the
// replicas sharing schema.
func auditLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("moat audit lock\x00" + schema))
	return int64(h.Sum64())
}

// AppendAudit links r to the end of the audit chain and stores it. The
// append holds a transaction-scoped advisory lock while it reads the last
// entry and inserts the next, so appends from every replica sharing the
// database are serialized and the chain never forks (the primary key on
// seq would refuse a fork anyway).
func (s *Store) AppendAudit(ctx context.Context, r audit.Record) (audit.Entry, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return audit.Entry{}, fmt.Errorf("append audit entry: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // a no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", auditLockKey(s.opts.Schema)); err != nil {
		return audit.Entry{}, fmt.Errorf("append audit entry: lock: %w", err)
	}
	var prev *audit.Entry
	last, err := scanEntry(tx.QueryRow(ctx, `SELECT `+auditColumns+` FROM audit_log ORDER BY seq DESC LIMIT 1`))
	switch {
	case err == nil:
		prev = &last
	case !errors.Is(err, pgx.ErrNoRows):
		return audit.Entry{}, fmt.Errorf("append audit entry: read chain head: %w", err)
	}
	e, err := audit.Next(prev, r)
	if err != nil {
		return audit.Entry{}, fmt.Errorf("append audit entry: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (`+auditColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		e.Seq, e.Time, e.Actor, e.Action, e.Target, string(e.Details), e.ClientIP, e.PrevHash, e.Hash); err != nil {
		return audit.Entry{}, fmt.Errorf("append audit entry: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return audit.Entry{}, fmt.Errorf("append audit entry: %w", err)
	}
	return e, nil
}

// AuditAfter returns up to limit audit entries with seq > afterSeq, oldest
// first, as stored (Verify them to trust them).
func (s *Store) AuditAfter(ctx context.Context, afterSeq int64, limit int) ([]audit.Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}

func scanEntry(row pgx.Row) (audit.Entry, error) {
	var (
		e       audit.Entry
		details string
	)
	if err := row.Scan(&e.Seq, &e.Time, &e.Actor, &e.Action, &e.Target, &details, &e.ClientIP, &e.PrevHash, &e.Hash); err != nil {
		return audit.Entry{}, err
	}
	e.Time, e.Details = e.Time.UTC(), []byte(details)
	return e, nil
}
