package ratelimit

// Scope is what a rate rule counts separately: every key, every
// principal, every deployment, or every pair (config rate_limits.rules[].scope).
type Scope string

// The scopes a rule can have.
const (
	ScopeKey                 Scope = "key"
	ScopePrincipal           Scope = "principal"
	ScopeDeployment          Scope = "deployment"
	ScopeKeyDeployment       Scope = "key+deployment"
	ScopePrincipalDeployment Scope = "principal+deployment"
)

// Scopes lists every scope, in the order the docs give them.
func Scopes() []Scope {
	return []Scope{ScopeKey, ScopePrincipal, ScopeDeployment, ScopeKeyDeployment, ScopePrincipalDeployment}
}

// Valid reports whether s is one of Scopes.
func (s Scope) Valid() bool {
	for _, v := range Scopes() {
		if s == v {
			return true
		}
	}
	return false
}

// Key is the counter key of the instance of s a call belongs to: its
// deployment, its caller (principal ID, or key ID for keys), or both; ""
// when s does not apply to the call (a key scope and a caller without a key).
func (s Scope) Key(deployment, caller string, callerIsKey bool) string {
	dep := "deployment:" + deployment
	principal := "principal:" + caller
	switch s {
	case ScopeDeployment:
		return dep
	case ScopePrincipal:
		return principal
	case ScopePrincipalDeployment:
		return principal + "|" + dep
	case ScopeKey:
		if callerIsKey {
			return "key:" + caller
		}
	case ScopeKeyDeployment:
		if callerIsKey {
			return "key:" + caller + "|" + dep
		}
	}
	return ""
}
