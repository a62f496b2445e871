package sqlitestore

import (
	"context"
	"fmt"

	"github.com/moat-gw/moat/internal/fleet"
)

// Heartbeat records r in the replicas table, replacing its previous row.
func (s *Store) Heartbeat(ctx context.Context, r fleet.Replica) error {
	const q = `INSERT INTO replicas (name, version, fingerprint, limits, state, started_at, last_seen)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET version = excluded.version, fingerprint = excluded.fingerprint,
	limits = excluded.limits, state = excluded.state, started_at = excluded.started_at, last_seen = excluded.last_seen`
	if _, err := s.write.ExecContext(ctx, q, r.Name, r.Version, r.Fingerprint, r.Limits, r.State,
		EncodeTime(r.Started), EncodeTime(r.LastSeen)); err != nil {
		return fmt.Errorf("replica heartbeat: %w", err)
	}
	return nil
}

// Replicas returns every replica's last heartbeat, by name.
func (s *Store) Replicas(ctx context.Context) ([]fleet.Replica, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT name, version, fingerprint, limits, state, started_at, last_seen
FROM replicas ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("read replicas: %w", err)
	}
	defer rows.Close()
	var out []fleet.Replica
	for rows.Next() {
		var r fleet.Replica
		var started, seen int64
		if err := rows.Scan(&r.Name, &r.Version, &r.Fingerprint, &r.Limits, &r.State, &started, &seen); err != nil {
			return nil, fmt.Errorf("read replicas: %w", err)
		}
		r.Started, r.LastSeen = DecodeTime(started), DecodeTime(seen)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read replicas: %w", err)
	}
	return out, nil
}
