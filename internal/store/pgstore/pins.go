package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/affinity"
)

// PutPin records p, replacing a pin of the same ID.
func (s *Store) PutPin(ctx context.Context, p affinity.Pin) error {
	const q = `INSERT INTO pins (id, kind, deployment, member, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, deployment = EXCLUDED.deployment, member = EXCLUDED.member,
	created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at`
	if _, err := s.pool.Exec(ctx, q, cleanText(p.ID), string(p.Kind), cleanText(p.Deployment), cleanText(p.Member),
		p.Created.UTC(), p.Expires.UTC()); err != nil {
		return fmt.Errorf("put pin: %w", err)
	}
	return nil
}

// GetPin returns the pin for id unless it expired before now.
func (s *Store) GetPin(ctx context.Context, id string, now time.Time) (affinity.Pin, error) {
	var p affinity.Pin
	var kind string
	err := s.pool.QueryRow(ctx, `SELECT id, kind, deployment, member, created_at, expires_at FROM pins
WHERE id = $1 AND expires_at > $2`, cleanText(id), now.UTC()).Scan(&p.ID, &kind, &p.Deployment, &p.Member, &p.Created, &p.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return affinity.Pin{}, affinity.ErrNotFound
	}
	if err != nil {
		return affinity.Pin{}, fmt.Errorf("get pin: %w", err)
	}
	p.Kind, p.Created, p.Expires = affinity.Kind(kind), p.Created.UTC(), p.Expires.UTC()
	return p, nil
}

// DeletePin removes the pin for id, if any.
func (s *Store) DeletePin(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM pins WHERE id = $1`, cleanText(id)); err != nil {
		return fmt.Errorf("delete pin: %w", err)
	}
	return nil
}

// DeleteExpiredPins removes the pins that expired at or before now.
func (s *Store) DeleteExpiredPins(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM pins WHERE expires_at <= $1`, now.UTC())
	if err != nil {
		return 0, fmt.Errorf("delete expired pins: %w", err)
	}
	return tag.RowsAffected(), nil
}
