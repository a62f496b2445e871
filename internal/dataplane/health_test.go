package dataplane

import (
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/config"
)

// TestMemberTarget: what makes a reloaded pool member the same upstream,
// and that the fingerprint neither holds the secret nor outlives the process.
func TestMemberTarget(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	base := config.Upstream{Name: "a", Type: "azure", Endpoint: "https://a.openai.azure.com", Auth: "api_key",
		APIKey: config.NewSecret("secret-key-a"), APIVersion: "2024-10-21"}
	tests := []struct {
		name   string
		change func(u *config.Upstream)
		dep    string
		same   bool
	}{
		{name: "unchanged", change: func(*config.Upstream) {}, same: true},
		{name: "timeouts and api version do not count", same: true, change: func(u *config.Upstream) {
			u.Timeout, u.IdleTimeout, u.APIVersion = config.Duration(1), config.Duration(2), "2025-01-01"
		}},
		{name: "a trailing slash on the endpoint does not count", same: true,
			change: func(u *config.Upstream) { u.Endpoint += "/" }},
		{name: "endpoint", change: func(u *config.Upstream) { u.Endpoint = "https://b.openai.azure.com" }},
		{name: "api key", change: func(u *config.Upstream) { u.APIKey = config.NewSecret("secret-key-b") }},
		{name: "auth mode", change: func(u *config.Upstream) { u.Auth, u.APIKey = "managed_identity", config.Secret{} }},
		{name: "client id", change: func(u *config.Upstream) { u.ClientID = "id-2" }},
		{name: "type", change: func(u *config.Upstream) { u.Type = "openai_compatible" }},
		{name: "ca file", change: func(u *config.Upstream) { u.CAFile = "/etc/ca.pem" }},
		{name: "deployment on the upstream", dep: "gpt-4o-2", change: func(*config.Upstream) {}},
	}
	want := memberTarget(key, base, "gpt-4o")
	if strings.Contains(want, "secret") || memberTarget([]byte("another process"), base, "gpt-4o") == want {
		t.Fatalf("fingerprint %q shows the secret or does not depend on the process key", want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := base
			tt.change(&u)
			dep := "gpt-4o"
			if tt.dep != "" {
				dep = tt.dep
			}
			if got := memberTarget(key, u, dep); (got == want) != tt.same {
				t.Errorf("same upstream = %v, want %v", got == want, tt.same)
			}
		})
	}
}
