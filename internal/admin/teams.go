package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/team"
)

// TeamRequest describes a team to create.
type TeamRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// MemberRequest maps a principal ("group:<id>", "app:<id>", "user:<id>") to a team.
type MemberRequest struct {
	Principal string `json:"principal"`
}

// TeamView is a team as the API shows it, with its members and keys.
type TeamView struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	Members     []string  `json:"members"`
	// Keys are the IDs of the active keys the team owns.
	Keys []string `json:"keys"`
}

var errNoTeams = errors.New("teams are not stored")

// teamExists checks that a key's team exists; "" (no team) always does.
func (s *Service) teamExists(ctx context.Context, name string) error {
	if name == "" {
		return nil
	}
	if s.teams == nil {
		return badRequest("team: %v", errNoTeams)
	}
	ts, err := s.teams.ListTeams(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.Name == name {
			return nil
		}
	}
	return notFound(team.ErrNotFound, "team %q does not exist; create it with moat teams create", name)
}

// CreateTeam creates a team and audits it; an existing name is a conflict.
func (s *Service) CreateTeam(ctx context.Context, c Caller, req TeamRequest) (*team.Team, error) {
	if s.teams == nil {
		return nil, errNoTeams
	}
	now := s.now()
	req.Name = strings.TrimSpace(req.Name)
	var v invalid
	if err := team.ValidName(req.Name); err != nil {
		v.add("%v", err)
	}
	if len(req.Description) > maxDescriptionLen || !printable(req.Description) {
		v.add("description: want up to %d printable characters", maxDescriptionLen)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := s.teamExists(ctx, req.Name); err == nil {
		return nil, conflict("TeamExists", "team %q already exists", req.Name)
	} else if !IsRequestError(err) {
		return nil, err
	}
	t := team.Team{Name: req.Name, Description: req.Description, CreatedAt: now.UTC()}
	if err := s.teams.PutTeam(ctx, t); err != nil {
		return nil, err
	}
	if err := s.record(ctx, c, audit.ActionTeamCreate, t.Name, map[string]any{"description": t.Description}, now); err != nil {
		_ = s.teams.DeleteTeam(context.WithoutCancel(ctx), t.Name) // an unaudited change must not stay
		return nil, err
	}
	s.teamsChanged()
	s.log.InfoContext(ctx, "team created", "team", t.Name, "actor", c.Actor, "client_ip", c.ClientIP)
	return &t, nil
}

// ListTeams returns every team with its members and active keys.
func (s *Service) ListTeams(ctx context.Context) ([]TeamView, error) {
	if s.teams == nil {
		return nil, errNoTeams
	}
	ts, err := s.teams.ListTeams(ctx)
	if err != nil {
		return nil, err
	}
	ms, err := s.teams.ListMembers(ctx)
	if err != nil {
		return nil, err
	}
	ks, err := s.keys.List(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]TeamView, 0, len(ts))
	for _, t := range ts {
		v := TeamView{Name: t.Name, Description: t.Description, CreatedAt: t.CreatedAt, Members: []string{}, Keys: []string{}}
		for _, m := range ms {
			if m.Team == t.Name {
				v.Members = append(v.Members, m.Principal)
			}
		}
		for _, k := range ks {
			if k.Team == t.Name && k.Active(now) == nil {
				v.Keys = append(v.Keys, k.ID)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// DeleteTeam removes a team and its members. A team that still owns
// active keys is a conflict: revoke or regenerate them first, so that no
// call is logged under a team that no longer exists.
func (s *Service) DeleteTeam(ctx context.Context, c Caller, name string) error {
	if s.teams == nil {
		return errNoTeams
	}
	now := s.now()
	ks, err := s.keys.List(ctx)
	if err != nil {
		return err
	}
	for _, k := range ks {
		if k.Team == name && k.Active(now) == nil {
			return conflict("TeamHasKeys", "team %q owns active key %s; revoke its keys first", name, k.ID)
		}
	}
	if err := s.teams.DeleteTeam(ctx, name); err != nil {
		if errors.Is(err, team.ErrNotFound) {
			return notFound(err, "team %q does not exist", name)
		}
		return err
	}
	if err := s.record(ctx, c, audit.ActionTeamDelete, name, map[string]any{}, now); err != nil {
		return err
	}
	s.teamsChanged()
	s.log.InfoContext(ctx, "team deleted", "team", name, "actor", c.Actor, "client_ip", c.ClientIP)
	return nil
}

// AddMember maps a principal selector to the team (moving it from another
// team if it had one) and audits it.
func (s *Service) AddMember(ctx context.Context, c Caller, name string, req MemberRequest) (string, error) {
	if s.teams == nil {
		return "", errNoTeams
	}
	p, err := team.ParsePrincipal(req.Principal)
	if err != nil {
		return "", badRequest("%v", err)
	}
	now := s.now()
	if err := s.teams.PutMember(ctx, team.Member{Principal: p, Team: name, CreatedAt: now.UTC()}); err != nil {
		if errors.Is(err, team.ErrNotFound) {
			return "", notFound(err, "team %q does not exist", name)
		}
		return "", err
	}
	if err := s.record(ctx, c, audit.ActionTeamMemberAdd, name, map[string]any{"principal": p}, now); err != nil {
		_ = s.teams.DeleteMember(context.WithoutCancel(ctx), p)
		return "", err
	}
	s.teamsChanged()
	s.log.InfoContext(ctx, "team member added", "team", name, "principal", p, "actor", c.Actor, "client_ip", c.ClientIP)
	return p, nil
}

// RemoveMember removes a principal's mapping to the team.
func (s *Service) RemoveMember(ctx context.Context, c Caller, name, principal string) error {
	if s.teams == nil {
		return errNoTeams
	}
	p, err := team.ParsePrincipal(principal)
	if err != nil {
		return badRequest("%v", err)
	}
	ms, err := s.teams.ListMembers(ctx)
	if err != nil {
		return err
	}
	found := false
	for _, m := range ms {
		found = found || (m.Principal == p && m.Team == name)
	}
	if !found {
		return notFound(team.ErrNotFound, "%s is not a member of team %q", p, name)
	}
	if err := s.teams.DeleteMember(ctx, p); err != nil {
		return fmt.Errorf("remove team member: %w", err)
	}
	if err := s.record(ctx, c, audit.ActionTeamMemberRemove, name, map[string]any{"principal": p}, s.now()); err != nil {
		return err
	}
	s.teamsChanged()
	s.log.InfoContext(ctx, "team member removed", "team", name, "principal", p, "actor", c.Actor, "client_ip", c.ClientIP)
	return nil
}

func (s *Service) httpListTeams(w http.ResponseWriter, r *http.Request, _ Caller) error {
	ts, err := s.ListTeams(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[TeamView]{Value: ts})
}

func (s *Service) httpCreateTeam(w http.ResponseWriter, r *http.Request, c Caller) error {
	var req TeamRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	t, err := s.CreateTeam(r.Context(), c, req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/admin/teams/"+t.Name)
	return writeJSON(w, http.StatusCreated, TeamView{Name: t.Name, Description: t.Description, CreatedAt: t.CreatedAt,
		Members: []string{}, Keys: []string{}})
}

func (s *Service) httpDeleteTeam(w http.ResponseWriter, r *http.Request, c Caller) error {
	if err := s.DeleteTeam(r.Context(), c, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) httpAddMember(w http.ResponseWriter, r *http.Request, c Caller) error {
	var req MemberRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	p, err := s.AddMember(r.Context(), c, r.PathValue("name"), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]string{"team": r.PathValue("name"), "principal": p})
}

func (s *Service) httpRemoveMember(w http.ResponseWriter, r *http.Request, c Caller) error {
	if err := s.RemoveMember(r.Context(), c, r.PathValue("name"), r.PathValue("principal")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
