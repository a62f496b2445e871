package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/moat-gw/moat/internal/auth"
)

// The api_keys table holds generated moat_<id>_<secret> keys: the hash of
// each, never the secret. Every lookup is by primary key.

const keyColumns = `id, name, owner, description, hash, deployments, operations, expires_at, revoked_at, created_at, limit_tpm, limit_rpm, team`

// Get implements auth.KeyStore: the key with this ID, or an error wrapping
// auth.ErrKeyNotFound.
func (s *Store) Get(ctx context.Context, id string) (*auth.Key, error) {
	k, err := scanKey(s.read.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
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
	deps, err := json.Marshal(nonNil(k.Deployments))
	if err != nil {
		return fmt.Errorf("put key %s: %w", k.ID, err)
	}
	ops, err := json.Marshal(nonNil(k.Operations))
	if err != nil {
		return fmt.Errorf("put key %s: %w", k.ID, err)
	}
	_, err = s.write.ExecContext(ctx, `INSERT INTO api_keys (`+keyColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
	name = excluded.name, owner = excluded.owner, description = excluded.description, hash = excluded.hash,
	deployments = excluded.deployments, operations = excluded.operations, expires_at = excluded.expires_at,
	revoked_at = excluded.revoked_at, created_at = excluded.created_at,
	limit_tpm = excluded.limit_tpm, limit_rpm = excluded.limit_rpm, team = excluded.team`,
		k.ID, k.Name, k.Owner, k.Description, k.Hash, string(deps), string(ops),
		nullTime(k.ExpiresAt), nullTime(k.RevokedAt), EncodeTime(k.CreatedAt), k.Limits.TPM, k.Limits.RPM, k.Team)
	if err != nil {
		return fmt.Errorf("put key %s: %w", k.ID, err)
	}
	return nil
}

// List implements auth.KeyStore: every key, revoked ones included, by ID.
func (s *Store) List(ctx context.Context) ([]*auth.Key, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY id`)
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
	res, err := s.write.ExecContext(ctx,
		`UPDATE api_keys SET revoked_at = min(coalesce(revoked_at, ?1), ?1) WHERE id = ?2`, EncodeTime(at), id)
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("revoke key %s: %w", id, auth.ErrKeyNotFound)
	}
	return nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanKey(row scanner) (*auth.Key, error) {
	var (
		k                auth.Key
		deps, ops        string
		expires, revoked sql.NullInt64
		created          int64
	)
	if err := row.Scan(&k.ID, &k.Name, &k.Owner, &k.Description, &k.Hash, &deps, &ops,
		&expires, &revoked, &created, &k.Limits.TPM, &k.Limits.RPM, &k.Team); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(deps), &k.Deployments); err != nil {
		return nil, fmt.Errorf("key %s: deployments: %w", k.ID, err)
	}
	if err := json.Unmarshal([]byte(ops), &k.Operations); err != nil {
		return nil, fmt.Errorf("key %s: operations: %w", k.ID, err)
	}
	k.Deployments, k.Operations = nilIfEmpty(k.Deployments), nilIfEmpty(k.Operations)
	k.ExpiresAt, k.RevokedAt, k.CreatedAt = decodeNull(expires), decodeNull(revoked), DecodeTime(created)
	return &k, nil
}

// nullTime stores the zero time ("never") as NULL.
func nullTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: EncodeTime(t), Valid: true}
}

func decodeNull(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return DecodeTime(v.Int64)
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
