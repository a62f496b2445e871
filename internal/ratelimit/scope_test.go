package ratelimit

import "testing"

func TestScopeKey(t *testing.T) {
	tests := []struct {
		name  string
		scope Scope
		isKey bool
		want  string
	}{
		{"deployment", ScopeDeployment, false, "deployment:gpt-4o"},
		{"principal", ScopePrincipal, false, "principal:alice"},
		{"principal and deployment", ScopePrincipalDeployment, true, "principal:alice|deployment:gpt-4o"},
		{"key", ScopeKey, true, "key:alice"},
		{"key scope, token caller", ScopeKey, false, ""},
		{"key and deployment", ScopeKeyDeployment, true, "key:alice|deployment:gpt-4o"},
		{"key and deployment, token caller", ScopeKeyDeployment, false, ""},
		{"unknown", Scope("tenant"), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.scope.Key("gpt-4o", "alice", tt.isKey); got != tt.want {
				t.Errorf("Key = %q, want %q", got, tt.want)
			}
			if tt.want != "" && !tt.scope.Valid() {
				t.Errorf("%q is not Valid", tt.scope)
			}
		})
	}
	if Scope("tenant").Valid() || Scope("").Valid() {
		t.Error("unknown scopes are Valid")
	}
}
