package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/rbac"
)

// AssignmentRequest asks for a role assignment.
type AssignmentRequest struct {
	// Role is a role name or role definition ID (case-insensitive).
	Role string `json:"role"`
	// Principal is a selector, "kind:value": object, group, appRole,
	// client or key.
	Principal string `json:"principal"`
	// Scope is "/" (the default) or "/deployments/<name-or-glob>".
	Scope string `json:"scope"`
}

// RoleDefinitions returns the built-in roles, then the custom ones.
func (s *Service) RoleDefinitions() []rbac.RoleDefinition {
	return append([]rbac.RoleDefinition(nil), s.roles...)
}

// IsBuiltinRole reports whether a role definition is one of rbac.BuiltinRoles.
func IsBuiltinRole(d rbac.RoleDefinition) bool {
	for _, b := range rbac.BuiltinRoles() {
		if strings.EqualFold(b.Name, d.Name) {
			return true
		}
	}
	return false
}

// ListAssignments returns the stored role assignments, oldest first.
func (s *Service) ListAssignments(ctx context.Context) ([]audit.RoleAssignment, error) {
	as, err := s.assignments.ListAssignments(ctx)
	if err != nil {
		return nil, fmt.Errorf("list role assignments: %w", err)
	}
	return as, nil
}

// Assign validates and stores a role assignment. The role is stored by its
// canonical name and the principal in canonical "kind:value" form. An
// identical assignment (same role, principal and scope) is a conflict, as
// in Azure (RoleAssignmentExists).
func (s *Service) Assign(ctx context.Context, c Caller, req AssignmentRequest) (audit.RoleAssignment, error) {
	a, err := s.compile(req)
	if err != nil {
		return audit.RoleAssignment{}, err
	}
	existing, err := s.ListAssignments(ctx)
	if err != nil {
		return audit.RoleAssignment{}, err
	}
	for _, e := range existing {
		if sameAssignment(e, a) {
			return audit.RoleAssignment{}, conflict("RoleAssignmentExists",
				"the role assignment already exists (id %s)", e.ID)
		}
	}
	if a.ID, err = newGUID(); err != nil {
		return audit.RoleAssignment{}, err
	}
	now := s.now()
	a.CreatedAt, a.CreatedBy = now.UTC(), c.Actor
	if err := s.assignments.PutAssignment(ctx, a); err != nil {
		return audit.RoleAssignment{}, fmt.Errorf("assign role: %w", err)
	}
	if err := s.record(ctx, c, audit.ActionRoleAssign, a.ID, assignmentDetails(a), now); err != nil {
		if _, derr := s.assignments.DeleteAssignment(context.WithoutCancel(ctx), a.ID); derr != nil {
			s.log.ErrorContext(ctx, "remove unaudited role assignment", "assignment_id", a.ID, "err", derr)
		}
		return audit.RoleAssignment{}, err
	}
	s.changed()
	s.log.InfoContext(ctx, "role assigned", "assignment_id", a.ID, "role", a.Role, "principal", a.Principal,
		"scope", a.Scope, "actor", c.Actor, "client_ip", c.ClientIP)
	return a, nil
}

// Unassign removes a stored role assignment and returns it.
func (s *Service) Unassign(ctx context.Context, c Caller, id string) (audit.RoleAssignment, error) {
	a, err := s.assignments.DeleteAssignment(ctx, id)
	if errors.Is(err, audit.ErrAssignmentNotFound) {
		return audit.RoleAssignment{}, notFound(err, "role assignment %q not found", id)
	}
	if err != nil {
		return audit.RoleAssignment{}, fmt.Errorf("remove role assignment: %w", err)
	}
	if err := s.record(ctx, c, audit.ActionRoleRemove, id, assignmentDetails(a), s.now()); err != nil {
		// Restore it: a change that is not in the audit log must not stay.
		if perr := s.assignments.PutAssignment(context.WithoutCancel(ctx), a); perr != nil {
			s.log.ErrorContext(ctx, "restore unaudited role assignment", "assignment_id", id, "err", perr)
		}
		return audit.RoleAssignment{}, err
	}
	s.changed()
	s.log.InfoContext(ctx, "role assignment removed", "assignment_id", id, "actor", c.Actor, "client_ip", c.ClientIP)
	return a, nil
}

func assignmentDetails(a audit.RoleAssignment) map[string]any {
	return map[string]any{"role": a.Role, "principal": a.Principal, "scope": a.Scope}
}

// compile validates a request against the known roles and returns the
// assignment to store (without ID and provenance).
func (s *Service) compile(req AssignmentRequest) (audit.RoleAssignment, error) {
	var v invalid
	role, ok := s.findRole(req.Role)
	if !ok {
		if strings.TrimSpace(req.Role) == "" {
			v.add("role is required")
		} else {
			v.add("role: unknown role %q (see the role definitions)", req.Role)
		}
	}
	sel, err := rbac.ParseSelector(req.Principal)
	if err != nil {
		v.add("principal: %s", strings.TrimPrefix(err.Error(), "principal selector "))
	} else if !printable(sel.Value) || len(sel.Value) > maxOwnerLen {
		v.add("principal: value must be up to %d printable characters", maxOwnerLen)
	}
	scope, err := normalizeScope(req.Scope)
	if err != nil {
		v.add("%s", err)
	}
	if err := v.err(); err != nil {
		return audit.RoleAssignment{}, err
	}
	a := audit.RoleAssignment{Role: role.Name, Principal: sel.String(), Scope: scope}
	// rbac has the last word on what it will compile.
	if _, err := s.Authorizer([]audit.RoleAssignment{a}); err != nil {
		return audit.RoleAssignment{}, badRequest("%s", err)
	}
	return a, nil
}

func (s *Service) findRole(nameOrID string) (rbac.RoleDefinition, bool) {
	want := strings.TrimSpace(nameOrID)
	for _, d := range s.roles {
		if want != "" && (strings.EqualFold(d.Name, want) || d.ID != "" && strings.EqualFold(d.ID, want)) {
			return d, true
		}
	}
	return rbac.RoleDefinition{}, false
}

// normalizeScope accepts "", "/" and "/deployments/<name-or-glob>".
func normalizeScope(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "/" {
		return "/", nil
	}
	name, ok := strings.CutPrefix(s, "/deployments/")
	name = strings.TrimSuffix(name, "/")
	if !ok || name == "" || strings.ContainsAny(name, "/?#") || !printable(name) || len(name) > maxNameLen {
		return "", fmt.Errorf("scope %q: want / or /deployments/<name-or-glob>", s)
	}
	return "/deployments/" + name, nil
}

func sameAssignment(a, b audit.RoleAssignment) bool {
	sa, erra := rbac.ParseSelector(a.Principal)
	sb, errb := rbac.ParseSelector(b.Principal)
	if erra != nil || errb != nil {
		return false
	}
	sameValue := sa.Value == sb.Value
	if sa.Kind == rbac.SelectObject || sa.Kind == rbac.SelectGroup || sa.Kind == rbac.SelectClient {
		sameValue = strings.EqualFold(sa.Value, sb.Value) // GUIDs
	}
	return strings.EqualFold(a.Role, b.Role) && sa.Kind == sb.Kind && sameValue && a.Scope == b.Scope
}

// RBACAssignments converts stored assignments into rbac.Assignments, for
// the gateway to add to the ones in config when it builds its Authorizer.
func RBACAssignments(stored []audit.RoleAssignment) ([]rbac.Assignment, error) {
	out := make([]rbac.Assignment, 0, len(stored))
	for _, a := range stored {
		sel, err := rbac.ParseSelector(a.Principal)
		if err != nil {
			return nil, fmt.Errorf("role assignment %s: %w", a.ID, err)
		}
		out = append(out, rbac.Assignment{Role: a.Role, Principal: sel, Scope: a.Scope})
	}
	return out, nil
}

// Authorizer builds an rbac.Authorizer from the service's roles and the
// given stored assignments. The gateway normally merges them with config
// assignments itself; this is for tools and tests.
func (s *Service) Authorizer(stored []audit.RoleAssignment) (*rbac.Authorizer, error) {
	as, err := RBACAssignments(stored)
	if err != nil {
		return nil, err
	}
	return rbac.New(rbac.Config{Roles: s.roles[len(rbac.BuiltinRoles()):], Assignments: as})
}
