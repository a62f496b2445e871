package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/auth"
)

// The api_keys table holds generated moat_<id>_<secret> keys: the hash of
// each, never the secret. Every lookup is by primary key.

const keyColumns = `id, name, owner, description, hash, deployments, operations, expires_at, revoked_at, created_at, limit_tpm, limit_rpm, team`

// Get implements auth.KeyStore: the key with this ID, or an error wrapping
// auth.ErrKeyNotFound.
func (s *Store) Get(ctx context.Context, id string) (*auth.Key, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("key %s: %w", id, auth.ErrKeyNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get key %s: %w", id, err)
	}
	return k, nil
}

// Put implements auth.KeyStore: it creates the key or replaces the one with
// the same ID. Two keys may not share a hash.
func (s *Store) Put(ctx context.Context, k *auth.Key) error {
	if k.ID == "" || len(k.Hash) == 0 {
		return fmt.Errorf("put key %q: ID and Hash are required", k.ID)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (`+keyColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (id) DO UPDATE SET
	name = excluded.name, owner = excluded.owner, description = excluded.description, hash = excluded.hash,
	deployments = excluded.deployments, operations = excluded.operations, expires_at = excluded.expires_at,
	revoked_at = excluded.revoked_at, created_at = excluded.created_at,
	limit_tpm = excluded.limit_tpm, limit_rpm = excluded.limit_rpm, team = excluded.team`,
		k.ID, k.Name, k.Owner, k.Description, k.Hash, nonNil(k.Deployments), nonNil(k.Operations),
		nullTime(k.ExpiresAt), nullTime(k.RevokedAt), k.CreatedAt, k.Limits.TPM, k.Limits.RPM, k.Team)
	if err != nil {
		return fmt.Errorf("put key %s: %w", k.ID, err)
	}
	return nil
}

// List implements auth.KeyStore: every key, revoked ones included, by ID.
func (s *Store) List(ctx context.Context) ([]*auth.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var out []*auth.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
}

// Revoke implements auth.KeyStore: the key stops working at at. A key
// already revoked earlier keeps its earlier time, so a revocation can be
// brought forward (a regenerate's grace period cut short) but never
// postponed.
func (s *Store) Revoke(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx,
		`UPDATE api_keys SET revoked_at = LEAST(COALESCE(revoked_at, $2), $2) WHERE id = $1`, id, at)
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke key %s: %w", id, auth.ErrKeyNotFound)
	}
	return nil
}

func scanKey(row pgx.Row) (*auth.Key, error) {
	var (
		k                auth.Key
		expires, revoked *time.Time
	)
	if err := row.Scan(&k.ID, &k.Name, &k.Owner, &k.Description, &k.Hash, &k.Deployments, &k.Operations,
		&expires, &revoked, &k.CreatedAt, &k.Limits.TPM, &k.Limits.RPM, &k.Team); err != nil {
		return nil, err
	}
	k.Deployments, k.Operations = nilIfEmpty(k.Deployments), nilIfEmpty(k.Operations)
	k.CreatedAt = k.CreatedAt.UTC()
	if expires != nil {
		k.ExpiresAt = expires.UTC()
	}
	if revoked != nil {
		k.RevokedAt = revoked.UTC()
	}
	return &k, nil
}

// nullTime stores the zero time ("never") as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

var _ auth.KeyStore = (*Store)(nil)
