package sqlitestore

import (
	"context"
	"fmt"

	"github.com/moat-gw/moat/internal/team"
)

// The teams and team_members tables (package team): teams own keys
// (api_keys.team) and principals (team_members).

// ListTeams implements team.Store: every team by name.
func (s *Store) ListTeams(ctx context.Context) ([]team.Team, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT name, description, created_at FROM teams ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	defer rows.Close()
	var out []team.Team
	for rows.Next() {
		var t team.Team
		var created int64
		if err := rows.Scan(&t.Name, &t.Description, &created); err != nil {
			return nil, fmt.Errorf("list teams: %w", err)
		}
		t.CreatedAt = DecodeTime(created)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	return out, nil
}

// PutTeam implements team.Store: it creates the team or replaces its description.
func (s *Store) PutTeam(ctx context.Context, t team.Team) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO teams (name, description, created_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET description = excluded.description`, t.Name, t.Description, EncodeTime(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("put team %s: %w", t.Name, err)
	}
	return nil
}

// DeleteTeam implements team.Store: the team and its members go together.
func (s *Store) DeleteTeam(ctx context.Context, name string) (err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete team %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	res, err := tx.ExecContext(ctx, `DELETE FROM teams WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete team %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete team %s: %w", name, err)
	} else if n == 0 {
		return fmt.Errorf("team %s: %w", name, team.ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM team_members WHERE team = ?`, name); err != nil {
		return fmt.Errorf("delete team %s: %w", name, err)
	}
	return tx.Commit()
}

// ListMembers implements team.Store: every member by principal.
func (s *Store) ListMembers(ctx context.Context) ([]team.Member, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT principal, team, created_at FROM team_members ORDER BY principal`)
	if err != nil {
		return nil, fmt.Errorf("list team members: %w", err)
	}
	defer rows.Close()
	var out []team.Member
	for rows.Next() {
		var m team.Member
		var created int64
		if err := rows.Scan(&m.Principal, &m.Team, &created); err != nil {
			return nil, fmt.Errorf("list team members: %w", err)
		}
		m.CreatedAt = DecodeTime(created)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list team members: %w", err)
	}
	return out, nil
}

// PutMember implements team.Store; the team must exist.
func (s *Store) PutMember(ctx context.Context, m team.Member) error {
	res, err := s.write.ExecContext(ctx, `INSERT INTO team_members (principal, team, created_at)
SELECT ?1, name, ?3 FROM teams WHERE name = ?2
ON CONFLICT (principal) DO UPDATE SET team = excluded.team, created_at = excluded.created_at`,
		m.Principal, m.Team, EncodeTime(m.CreatedAt))
	if err != nil {
		return fmt.Errorf("put team member %s: %w", m.Principal, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("put team member %s: %w", m.Principal, err)
	} else if n == 0 {
		return fmt.Errorf("team %s: %w", m.Team, team.ErrNotFound)
	}
	return nil
}

// DeleteMember implements team.Store.
func (s *Store) DeleteMember(ctx context.Context, principal string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM team_members WHERE principal = ?`, principal)
	if err != nil {
		return fmt.Errorf("delete team member %s: %w", principal, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete team member %s: %w", principal, err)
	} else if n == 0 {
		return fmt.Errorf("team member %s: %w", principal, team.ErrNotFound)
	}
	return nil
}

var _ team.Store = (*Store)(nil)
