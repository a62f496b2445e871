package config

import (
	"strings"
	"testing"
)

// TestAuthDisabledOnlyOnLoopback: development mode (no authentication) is
// refused on any listener, data or management, that others can reach.
func TestAuthDisabledOnlyOnLoopback(t *testing.T) {
	tests := []struct {
		name, yaml string
		wantErr    string // "" means valid
	}{
		{"defaults", "auth: {disabled: true}\n", ""},
		{"loopback v4 and v6", "auth: {disabled: true}\nlisteners: [{name: a, address: '127.0.0.2:1'}, {name: b, address: '[::1]:2'}]\n", ""},
		{"localhost", "auth: {disabled: true}\nlisteners: [{name: a, address: 'localhost:1'}]\n", ""},
		{"all interfaces", "auth: {disabled: true}\nlisteners: [{name: a, address: '0.0.0.0:8080'}]\n", `listener "a" binds 0.0.0.0:8080`},
		{"empty host", "auth: {disabled: true}\nlisteners: [{name: a, address: ':8080'}]\n", `listener "a" binds :8080`},
		{"v6 any", "auth: {disabled: true}\nlisteners: [{name: a, address: '[::]:8080'}]\n", `listener "a" binds [::]:8080`},
		{"private address", "auth: {disabled: true}\nlisteners: [{name: a, address: '10.0.0.4:8080'}]\n", "not loopback"},
		{"management listener", "auth: {disabled: true}\nmanagement: {listeners: [{name: m, address: '0.0.0.0:9090'}]}\n", `listener "m" binds 0.0.0.0:9090`},
		{"auth on, any listener", "auth: {keys: [{name: k, key: secret-key-0123456789abcdef0123456789}]}\nlisteners: [{name: a, address: '0.0.0.0:8080'}]\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestEndpointUserInfoRefused: credentials in an upstream or collector URL
// are refused, and the error never repeats the password.
func TestEndpointUserInfoRefused(t *testing.T) {
	tests := []struct{ name, yaml string }{
		{"azure endpoint", "upstreams: [{name: a, type: azure, endpoint: 'https://user:hunter2pw@contoso.openai.azure.com', auth: default, api_version: 2024-10-21}]\n"},
		{"user only", "upstreams: [{name: a, type: azure, endpoint: 'https://hunter2pw@contoso.openai.azure.com', auth: default, api_version: 2024-10-21}]\n"},
		{"base url", "upstreams: [{name: a, type: openai_compatible, base_url: 'http://u:hunter2pw@10.0.0.1:8000/v1'}]\n"},
		{"unparsable", "upstreams: [{name: a, type: openai_compatible, base_url: 'http://u:hunter2pw@host:port/v1'}]\n"},
		{"telemetry unparsable", "telemetry: {endpoint: 'http://u:hunter2pw@host:port'}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("config with credentials in a URL validated")
			}
			if strings.Contains(err.Error(), "hunter2pw") {
				t.Fatalf("error echoes the credentials: %v", err)
			}
			if !strings.Contains(err.Error(), "REDACTED@") {
				t.Errorf("error does not say which URL: %v", err)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:p@h/x@y":   "https://REDACTED@h/x@y",
		"https://h/a@b":       "https://h/a@b",
		"u:p@h:1":             "REDACTED@h:1",
		"https://a@b@h?q=1@2": "https://REDACTED@h?q=1@2",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
