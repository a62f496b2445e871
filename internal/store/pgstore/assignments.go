package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/audit"
)

// ListAssignments returns the role assignments made through the management
// plane, oldest first.
func (s *Store) ListAssignments(ctx context.Context) ([]audit.RoleAssignment, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT id, role, principal, scope, created_at, created_by FROM role_assignments ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list role assignments: %w", err)
	}
	defer rows.Close()
	var out []audit.RoleAssignment
	for rows.Next() {
		var a audit.RoleAssignment
		if err := rows.Scan(&a.ID, &a.Role, &a.Principal, &a.Scope, &a.CreatedAt, &a.CreatedBy); err != nil {
			return nil, fmt.Errorf("list role assignments: %w", err)
		}
		a.CreatedAt = a.CreatedAt.UTC()
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list role assignments: %w", err)
	}
	return out, nil
}

// PutAssignment creates the assignment, or replaces the one with its ID.
func (s *Store) PutAssignment(ctx context.Context, a audit.RoleAssignment) error {
	if a.ID == "" {
		return errors.New("put role assignment: empty ID")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO role_assignments (id, role, principal, scope, created_at, created_by)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET role = excluded.role, principal = excluded.principal, scope = excluded.scope,
	created_at = excluded.created_at, created_by = excluded.created_by`,
		a.ID, a.Role, a.Principal, a.Scope, a.CreatedAt, a.CreatedBy)
	if err != nil {
		return fmt.Errorf("put role assignment %s: %w", a.ID, err)
	}
	return nil
}

// DeleteAssignment removes the assignment and returns what it was, or an
// error wrapping audit.ErrAssignmentNotFound.
func (s *Store) DeleteAssignment(ctx context.Context, id string) (audit.RoleAssignment, error) {
	a := audit.RoleAssignment{ID: id}
	err := s.pool.QueryRow(ctx,
		`DELETE FROM role_assignments WHERE id = $1 RETURNING role, principal, scope, created_at, created_by`, id).
		Scan(&a.Role, &a.Principal, &a.Scope, &a.CreatedAt, &a.CreatedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return audit.RoleAssignment{}, fmt.Errorf("delete role assignment %s: %w", id, audit.ErrAssignmentNotFound)
	}
	if err != nil {
		return audit.RoleAssignment{}, fmt.Errorf("delete role assignment %s: %w", id, err)
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}
