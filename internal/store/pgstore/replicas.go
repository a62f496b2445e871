package pgstore

import (
	"context"
	"fmt"

	"github.com/moat-gw/moat/internal/fleet"
)

// Heartbeat records r in the replicas table, replacing its previous row.
func (s *Store) Heartbeat(ctx context.Context, r fleet.Replica) error {
	const q = `INSERT INTO replicas (name, version, fingerprint, limits, state, started_at, last_seen)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, fingerprint = EXCLUDED.fingerprint,
	limits = EXCLUDED.limits, state = EXCLUDED.state, started_at = EXCLUDED.started_at, last_seen = EXCLUDED.last_seen`
	if _, err := s.pool.Exec(ctx, q, cleanText(r.Name), cleanText(r.Version), r.Fingerprint, cleanText(r.Limits),
		r.State, r.Started.UTC(), r.LastSeen.UTC()); err != nil {
		return fmt.Errorf("replica heartbeat: %w", err)
	}
	return nil
}

// Replicas returns every replica's last heartbeat, by name.
func (s *Store) Replicas(ctx context.Context) ([]fleet.Replica, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, version, fingerprint, limits, state, started_at, last_seen
FROM replicas ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("read replicas: %w", err)
	}
	defer rows.Close()
	var out []fleet.Replica
	for rows.Next() {
		var r fleet.Replica
		if err := rows.Scan(&r.Name, &r.Version, &r.Fingerprint, &r.Limits, &r.State, &r.Started, &r.LastSeen); err != nil {
			return nil, fmt.Errorf("read replicas: %w", err)
		}
		r.Started, r.LastSeen = r.Started.UTC(), r.LastSeen.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read replicas: %w", err)
	}
	return out, nil
}
