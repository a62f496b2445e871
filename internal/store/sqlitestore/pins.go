package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/moat-gw/moat/internal/affinity"
)

// PutPin records p, replacing a pin of the same ID.
func (s *Store) PutPin(ctx context.Context, p affinity.Pin) error {
	const q = `INSERT INTO pins (id, kind, deployment, member, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, deployment = excluded.deployment, member = excluded.member,
	created_at = excluded.created_at, expires_at = excluded.expires_at`
	if _, err := s.write.ExecContext(ctx, q, p.ID, string(p.Kind), p.Deployment, p.Member,
		EncodeTime(p.Created), EncodeTime(p.Expires)); err != nil {
		return fmt.Errorf("put pin: %w", err)
	}
	return nil
}

// GetPin returns the pin for id unless it expired before now.
func (s *Store) GetPin(ctx context.Context, id string, now time.Time) (affinity.Pin, error) {
	var p affinity.Pin
	var kind string
	var created, expires int64
	err := s.read.QueryRowContext(ctx, `SELECT id, kind, deployment, member, created_at, expires_at FROM pins
WHERE id = ? AND expires_at > ?`, id, EncodeTime(now)).Scan(&p.ID, &kind, &p.Deployment, &p.Member, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return affinity.Pin{}, affinity.ErrNotFound
	}
	if err != nil {
		return affinity.Pin{}, fmt.Errorf("get pin: %w", err)
	}
	p.Kind, p.Created, p.Expires = affinity.Kind(kind), DecodeTime(created), DecodeTime(expires)
	return p, nil
}

// DeletePin removes the pin for id, if any.
func (s *Store) DeletePin(ctx context.Context, id string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM pins WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete pin: %w", err)
	}
	return nil
}

// DeleteExpiredPins removes the pins that expired at or before now.
func (s *Store) DeleteExpiredPins(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM pins WHERE expires_at <= ?`, EncodeTime(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired pins: %w", err)
	}
	return res.RowsAffected()
}
