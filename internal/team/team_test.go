package team

import "testing"

func TestParsePrincipal(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"group:ABC-1", "group:abc-1", true},
		{" App:0000-1111 ", "app:0000-1111", true},
		{"user:x", "user:x", true},
		{"role:x", "", false},
		{"group:", "", false},
		{"nocolon", "", false},
		{"group:a b", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePrincipal(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParsePrincipal(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"ml-platform", "a", "team_1.x"} {
		if err := ValidName(n); err != nil {
			t.Errorf("ValidName(%q) = %v", n, err)
		}
	}
	for _, n := range []string{"", "Upper", "sp ace", "x/y", string(make([]byte, MaxNameLen+1))} {
		if err := ValidName(n); err == nil {
			t.Errorf("ValidName(%q) accepted", n)
		}
	}
}

func TestResolve(t *testing.T) {
	members := map[string]string{"user:u1": "alpha", "app:a1": "beta", "group:g1": "zeta", "group:g2": "gamma"}
	tests := []struct {
		name string
		c    Caller
		want string
	}{
		{"user wins", Caller{ObjectID: "U1", AppID: "a1", Groups: []string{"g1"}}, "alpha"},
		{"app before groups", Caller{ObjectID: "u9", AppID: "a1", Groups: []string{"g1"}}, "beta"},
		{"first team name among groups", Caller{Groups: []string{"g1", "g2"}}, "gamma"},
		{"none", Caller{ObjectID: "u9", Groups: []string{"g9"}}, ""},
		{"empty caller", Caller{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Resolve(members, tt.c); got != tt.want {
				t.Errorf("Resolve = %q, want %q", got, tt.want)
			}
		})
	}
}
