package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/moat-gw/moat/internal/audit"
)

// ListAssignments returns the role assignments made through the management
// plane, oldest first.
func (s *Store) ListAssignments(ctx context.Context) ([]audit.RoleAssignment, error) {
	rows, err := s.read.QueryContext(ctx,
		`SELECT id, role, principal, scope, created_at, created_by FROM role_assignments ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list role assignments: %w", err)
	}
	defer rows.Close()
	var out []audit.RoleAssignment
	for rows.Next() {
		var (
			a       audit.RoleAssignment
			created int64
		)
		if err := rows.Scan(&a.ID, &a.Role, &a.Principal, &a.Scope, &created, &a.CreatedBy); err != nil {
			return nil, fmt.Errorf("list role assignments: %w", err)
		}
		a.CreatedAt = DecodeTime(created)
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
	_, err := s.write.ExecContext(ctx, `INSERT INTO role_assignments (id, role, principal, scope, created_at, created_by)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET role = excluded.role, principal = excluded.principal, scope = excluded.scope,
	created_at = excluded.created_at, created_by = excluded.created_by`,
		a.ID, a.Role, a.Principal, a.Scope, EncodeTime(a.CreatedAt), a.CreatedBy)
	if err != nil {
		return fmt.Errorf("put role assignment %s: %w", a.ID, err)
	}
	return nil
}

// DeleteAssignment removes the assignment and returns what it was, or an
// error wrapping audit.ErrAssignmentNotFound.
func (s *Store) DeleteAssignment(ctx context.Context, id string) (audit.RoleAssignment, error) {
	a := audit.RoleAssignment{ID: id}
	var created int64
	err := s.write.QueryRowContext(ctx,
		`DELETE FROM role_assignments WHERE id = ? RETURNING role, principal, scope, created_at, created_by`, id).
		Scan(&a.Role, &a.Principal, &a.Scope, &created, &a.CreatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.RoleAssignment{}, fmt.Errorf("delete role assignment %s: %w", id, audit.ErrAssignmentNotFound)
	}
	if err != nil {
		return audit.RoleAssignment{}, fmt.Errorf("delete role assignment %s: %w", id, err)
	}
	a.CreatedAt = DecodeTime(created)
	return a, nil
}
