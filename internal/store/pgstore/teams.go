package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/team"
)

// The teams and team_members tables (package team): teams own keys
// (api_keys.team) and principals (team_members).

// ListTeams implements team.Store: every team by name.
func (s *Store) ListTeams(ctx context.Context) ([]team.Team, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, description, created_at FROM teams ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (team.Team, error) {
		var t team.Team
		err := r.Scan(&t.Name, &t.Description, &t.CreatedAt)
		t.CreatedAt = t.CreatedAt.UTC()
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	return out, nil
}

// PutTeam implements team.Store: it creates the team or replaces its description.
func (s *Store) PutTeam(ctx context.Context, t team.Team) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO teams (name, description, created_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET description = excluded.description`, t.Name, t.Description, t.CreatedAt)
	if err != nil {
		return fmt.Errorf("put team %s: %w", t.Name, err)
	}
	return nil
}

// DeleteTeam implements team.Store: the team and its members go together.
func (s *Store) DeleteTeam(ctx context.Context, name string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("delete team %s: %w", name, err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // a no-op after Commit
	tag, err := tx.Exec(ctx, `DELETE FROM teams WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("delete team %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("team %s: %w", name, team.ErrNotFound)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM team_members WHERE team = $1`, name); err != nil {
		return fmt.Errorf("delete team %s: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("delete team %s: %w", name, err)
	}
	return nil
}

// ListMembers implements team.Store: every member by principal.
func (s *Store) ListMembers(ctx context.Context) ([]team.Member, error) {
	rows, err := s.pool.Query(ctx, `SELECT principal, team, created_at FROM team_members ORDER BY principal`)
	if err != nil {
		return nil, fmt.Errorf("list team members: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (team.Member, error) {
		var m team.Member
		err := r.Scan(&m.Principal, &m.Team, &m.CreatedAt)
		m.CreatedAt = m.CreatedAt.UTC()
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("list team members: %w", err)
	}
	return out, nil
}

// PutMember implements team.Store; the team must exist.
func (s *Store) PutMember(ctx context.Context, m team.Member) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO team_members (principal, team, created_at)
SELECT $1, name, $3 FROM teams WHERE name = $2
ON CONFLICT (principal) DO UPDATE SET team = excluded.team, created_at = excluded.created_at`,
		m.Principal, m.Team, m.CreatedAt)
	if err != nil {
		return fmt.Errorf("put team member %s: %w", m.Principal, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("team %s: %w", m.Team, team.ErrNotFound)
	}
	return nil
}

// DeleteMember implements team.Store.
func (s *Store) DeleteMember(ctx context.Context, principal string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM team_members WHERE principal = $1`, principal)
	if err != nil {
		return fmt.Errorf("delete team member %s: %w", principal, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("team member %s: %w", principal, team.ErrNotFound)
	}
	return nil
}

var _ team.Store = (*Store)(nil)
