package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/moat-gw/moat/internal/audit"
)

const auditColumns = `seq, time, actor, action, target, details, client_ip, prev_hash, hash`

// AppendAudit links r to the end of the audit chain and stores it. The
// read of the last entry and the insert share one write transaction, and
// every write transaction begins IMMEDIATE (the database's single writer
// lock), so concurrent appends — from this process or another one on the
// same file — are serialized and the chain never forks.
func (s *Store) AppendAudit(ctx context.Context, r audit.Record) (entry audit.Entry, err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return audit.Entry{}, fmt.Errorf("append audit entry: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var prev *audit.Entry
	last, err := scanEntry(tx.QueryRowContext(ctx, `SELECT `+auditColumns+` FROM audit_log ORDER BY seq DESC LIMIT 1`))
	switch {
	case err == nil:
		prev = &last
	case !errors.Is(err, sql.ErrNoRows):
		return audit.Entry{}, fmt.Errorf("append audit entry: read chain head: %w", err)
	}
	e, err := audit.Next(prev, r)
	if err != nil {
		return audit.Entry{}, fmt.Errorf("append audit entry: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, EncodeTime(e.Time), e.Actor, e.Action, e.Target, string(e.Details), e.ClientIP, e.PrevHash, e.Hash); err != nil {
		return audit.Entry{}, fmt.Errorf("append audit entry: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return audit.Entry{}, fmt.Errorf("append audit entry: %w", err)
	}
	return e, nil
}

// AuditAfter returns up to limit audit entries with seq > afterSeq, oldest
// first, as stored (Verify them to trust them).
func (s *Store) AuditAfter(ctx context.Context, afterSeq int64, limit int) ([]audit.Entry, error) {
	rows, err := s.read.QueryContext(ctx,
		`SELECT `+auditColumns+` FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
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

func scanEntry(row scanner) (audit.Entry, error) {
	var (
		e       audit.Entry
		ts      int64
		details string
	)
	if err := row.Scan(&e.Seq, &ts, &e.Actor, &e.Action, &e.Target, &details, &e.ClientIP, &e.PrevHash, &e.Hash); err != nil {
		return audit.Entry{}, err
	}
	e.Time, e.Details = DecodeTime(ts), []byte(details)
	return e, nil
}
