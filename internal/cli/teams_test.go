package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/cli"
)

// TestTeamsCommands runs the team commands in order on SQLite: a key
// belongs to a team, a team that owns keys stays until they are revoked,
// and every change reaches the audit log.
func TestTeamsCommands(t *testing.T) {
	b := sqliteBackend(t)
	keyID := ""
	steps := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{args: []string{"teams", "create", "search", "--description", "Search team"}, stdout: "team search created"},
		{args: []string{"teams", "create", "Bad Name"}, code: 1, stderr: "lower-case"},
		{args: []string{"teams", "create", "search"}, code: 1, stderr: "already exists"},
		{args: []string{"keys", "create", "--name", "bot", "--team", "nope"}, code: 1, stderr: `team "nope" does not exist`},
		{args: []string{"keys", "create", "--name", "bot", "--team", "search"}, stdout: "id:"},
		{args: []string{"teams", "add-principal", "search", "group:ABC"}, stdout: "group:abc added to team search"},
		{args: []string{"teams", "add-principal", "search", "role:x"}, code: 1, stderr: "kind"},
		{args: []string{"teams", "list"}, stdout: "group:abc"},
		{args: []string{"keys", "list"}, stdout: "search"},
		{args: []string{"teams", "delete", "search"}, code: 1, stderr: "revoke its keys first"},
		{args: []string{"teams", "remove-principal", "search", "group:abc"}, stdout: "removed"},
		{args: []string{"keys", "revoke", "{key}"}, stdout: "revoked"},
		{args: []string{"teams", "delete", "search"}, stdout: "team search deleted"},
		{args: []string{"audit", "list"}, stdout: "team.member.remove"},
		{args: []string{"teams", "frobnicate"}, code: 2, stderr: "usage: moat teams"},
	}
	for _, st := range steps {
		args := append([]string(nil), st.args...)
		for i := range args {
			args[i] = strings.ReplaceAll(args[i], "{key}", keyID)
		}
		args = append(args, "--config", b.config)
		var stdout, stderr bytes.Buffer
		code := cli.Main(context.Background(), args, &stdout, &stderr)
		if code != st.code || !strings.Contains(stdout.String(), st.stdout) || !strings.Contains(stderr.String(), st.stderr) {
			t.Fatalf("moat %s: exit %d (want %d)\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, st.code, &stdout, &stderr)
		}
		if m := idLine.FindStringSubmatch(stdout.String()); m != nil {
			keyID = m[1]
		}
	}
}
