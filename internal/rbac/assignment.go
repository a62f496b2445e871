package rbac

import (
	"errors"
	"fmt"
	"strings"
)

// SelectorKind says which identifier of a principal an assignment names.
type SelectorKind string

// Selector kinds. Object, group and client IDs are GUIDs and compare
// case-insensitively; app role values and key IDs compare exactly.
const (
	// SelectObject matches the token's oid (or sub for issuers without oid).
	SelectObject SelectorKind = "object"
	// SelectGroup matches one of the token's groups claim values.
	SelectGroup SelectorKind = "group"
	// SelectAppRole matches one of the token's roles claim values.
	SelectAppRole SelectorKind = "appRole"
	// SelectClient matches the token's appid (v1) or azp (v2).
	SelectClient SelectorKind = "client"
	// SelectKey matches an API key ID.
	SelectKey SelectorKind = "key"
	// SelectCert matches a client certificate's name (its first URI, DNS or
	// email SAN, else its subject CN), on listeners with client_ca_file.
	SelectCert SelectorKind = "cert"
)

func selectorKinds() []SelectorKind {
	return []SelectorKind{SelectObject, SelectGroup, SelectAppRole, SelectClient, SelectKey, SelectCert}
}

// Selector names the principals an assignment applies to.
type Selector struct {
	Kind  SelectorKind
	Value string
}

// String renders the selector in the form ParseSelector reads.
func (s Selector) String() string { return string(s.Kind) + ":" + s.Value }

// ParseSelector reads "kind:value", e.g. "object:6f1c…", "group:…",
// "appRole:Moat.Admin", "client:…", "key:k1a2b3". Kinds compare
// case-insensitively. It is used by config, so its errors name the input.
func ParseSelector(s string) (Selector, error) {
	kind, value, ok := strings.Cut(s, ":")
	if !ok {
		return Selector{}, fmt.Errorf("principal selector %q: want kind:value", s)
	}
	value = strings.TrimSpace(value)
	if value == "" {
		return Selector{}, fmt.Errorf("principal selector %q: empty value", s)
	}
	for _, k := range selectorKinds() {
		if strings.EqualFold(strings.TrimSpace(kind), string(k)) {
			return Selector{Kind: k, Value: value}, nil
		}
	}
	return Selector{}, fmt.Errorf("principal selector %q: unknown kind %q (want object, group, appRole, client, key or cert)", s, kind)
}

// Assignment grants a role to the principals a selector names, at a scope:
// "/" for the whole gateway, "/deployments/<name>" for one deployment, where
// name may hold '*' wildcards ("/deployments/gpt-4o*"). Deployment names
// compare exactly (case-sensitively), so pass the canonical name.
type Assignment struct {
	// Role is a role name or role definition ID.
	Role string
	// Principal names who the assignment is for.
	Principal Selector
	// Scope is "/" or "/deployments/<name-or-glob>"; empty means "/".
	Scope string
}

// KeyMode says how API-key principals meet RBAC.
type KeyMode string

// Key modes.
const (
	// KeysBypass follows Azure: a valid key grants every
	// Microsoft.CognitiveServices data action (the whole data plane) and
	// needs no assignment; its own deployment/operation scope, checked by
	// auth, is the only limit. Moat's own data actions still need an
	// assignment to the key ID. This is the default.
	KeysBypass KeyMode = "bypass"
	// KeysAssigned makes keys behave like any principal: they can do only
	// what assignments to their key ID grant.
	KeysAssigned KeyMode = "assigned"
)

// Config is what the Authorizer is built from.
type Config struct {
	// Roles are custom role definitions, added to BuiltinRoles.
	Roles []RoleDefinition
	// Assignments are the grants; with none, every token principal is denied.
	Assignments []Assignment
	// Keys says how API keys meet RBAC; empty means KeysBypass.
	Keys KeyMode
}

// scope is a compiled assignment scope.
type scope struct {
	all        bool
	deployment pattern
}

func parseScope(s string) (scope, error) {
	switch {
	case s == "" || s == "/":
		return scope{all: true}, nil
	case strings.HasPrefix(s, "/deployments/"):
		name := strings.TrimSuffix(strings.TrimPrefix(s, "/deployments/"), "/")
		if name == "" || strings.Contains(name, "/") {
			return scope{}, fmt.Errorf("scope %q: want /deployments/<name-or-glob>", s)
		}
		return scope{deployment: compilePattern(name, false)}, nil
	default:
		return scope{}, fmt.Errorf("scope %q: want / or /deployments/<name-or-glob>", s)
	}
}

// covers reports whether the scope includes the deployment. Operations that
// name no deployment (model listing, log queries) are covered only by "/".
func (s *scope) covers(deployment string) bool {
	if s.all {
		return true
	}
	return deployment != "" && s.deployment.match(deployment)
}

// compiledRole is a role with its patterns compiled once.
type compiledRole struct {
	name    string
	actions []pattern
	not     []pattern
}

func compileRole(d RoleDefinition) *compiledRole {
	r := &compiledRole{name: d.Name}
	for _, a := range d.DataActions {
		r.actions = append(r.actions, compilePattern(a, true))
	}
	for _, a := range d.NotDataActions {
		r.not = append(r.not, compilePattern(a, true))
	}
	return r
}

// grants reports whether the role grants the data action: some DataActions
// pattern matches and no NotDataActions pattern of this same role does.
func (r *compiledRole) grants(action string) bool {
	granted := false
	for i := range r.actions {
		if r.actions[i].match(action) {
			granted = true
			break
		}
	}
	if !granted {
		return false
	}
	for i := range r.not {
		if r.not[i].match(action) {
			return false
		}
	}
	return true
}

func validateRole(d RoleDefinition) error {
	var errs []error
	if strings.TrimSpace(d.Name) == "" {
		errs = append(errs, errors.New("role with empty name"))
	}
	for _, a := range append(append([]string(nil), d.DataActions...), d.NotDataActions...) {
		if strings.TrimSpace(a) == "" {
			errs = append(errs, fmt.Errorf("role %q: empty data action", d.Name))
		}
	}
	return errors.Join(errs...)
}
