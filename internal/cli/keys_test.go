package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/cli"
	"github.com/moat-gw/moat/internal/store/pgstore"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

const (
	testPepper = "cli-test-pepper-0123456789abcdef"
	testOID    = "6f1c0000-0000-0000-0000-0000000000aa"
)

// simulated is the smallest set of deployments a config file may have:
// every file must say what it serves.
const simulated = "upstreams: [{name: sim, type: simulator}]\ndeployments: [{name: d, upstreams: [{upstream: sim}]}]\n"

// identityConfig is the config body shared by both backends: a pepper
// (keys made here must verify in the gateway) and a custom role.
const identityConfig = `auth:
  pepper: ` + testPepper + `
  roles:
    - name: Chat Only
      data_actions: [Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action]
`

// backend is a configured store under test: the config file, raw SQL for
// tampering, and a way to open the store the way the gateway would.
type backend struct {
	config  string
	exec    func(t *testing.T, query string)
	unguard []string
	keys    func(t *testing.T) auth.KeyStore
}

func sqliteBackend(t *testing.T) backend {
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "moat.db")
	cfg := filepath.Join(dir, "moat.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+filepath.Join(dir, "data")+"\n"+simulated+identityConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return backend{
		config: cfg,
		exec: func(t *testing.T, query string) {
			conn, err := sql.Open("sqlite", db)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Exec(query); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		},
		unguard: []string{"DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"},
		keys: func(t *testing.T) auth.KeyStore {
			s, err := sqlitestore.Open(context.Background(), db, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// postgresBackend points the config at a fresh schema through the DSN's
// search_path, skipping when PostgreSQL is unreachable outside CI.
func postgresBackend(t *testing.T) backend {
	base := os.Getenv("MOAT_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL unreachable: %v", err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "moat_cli_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		ctx := context.Background()
		if conn, err := pgx.Connect(ctx, base); err == nil {
			conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			conn.Close(ctx)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	dsn := base + sep + "search_path=" + schema
	dir := t.TempDir()
	cfg := filepath.Join(dir, "moat.yaml")
	body := "data_dir: " + dir + "\nlog:\n  store: postgres\n  postgres_dsn: \"" + dsn + "\"\n" + simulated + identityConfig
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return backend{
		config: cfg,
		exec: func(t *testing.T, query string) {
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, query); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		},
		unguard: []string{"DROP TRIGGER audit_log_no_change ON audit_log"},
		keys: func(t *testing.T) auth.KeyStore {
			s, err := pgstore.Open(context.Background(), dsn, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

func TestIdentityCommands(t *testing.T) {
	backends := []struct {
		name string
		make func(*testing.T) backend
	}{
		{"sqlite", sqliteBackend},
		{"postgres", postgresBackend},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			runIdentityFlow(t, b.make(t))
		})
	}
}

var (
	idLine  = regexp.MustCompile(`(?m)^id:  ([0-9a-f]{12})$`)
	keyLine = regexp.MustCompile(`(?m)^key: (moat_[0-9a-f]{12}_[A-Za-z0-9_-]{43})$`)
	asgLine = regexp.MustCompile(`assignment ([0-9a-f-]{36}):`)
)

// runIdentityFlow runs the key, role and audit commands in order; later
// steps use IDs that earlier ones printed ({key1}, {key2}, {asg}).
func runIdentityFlow(t *testing.T, b backend) {
	vars := map[string]string{}
	expand := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "{"+k+"}", v)
		}
		return s
	}
	steps := []struct {
		name      string
		args      []string
		code      int
		stdout    []string // substrings
		notStdout []string
		stderr    string // substring
		capture   func(out string)
		before    func(t *testing.T)
	}{
		{name: "create", args: []string{"keys", "create", "--name", "ci", "--owner", "team", "--deployments", "gpt-4o*, o1",
			"--operations", "chat,Embeddings", "--expires", "30d", "--tpm", "1000", "--rpm", "10"},
			stderr: "only time the key is shown",
			capture: func(out string) {
				vars["key1"] = firstMatch(t, idLine, out)
				vars["plain1"] = firstMatch(t, keyLine, out)
			}},
		{name: "create without name", args: []string{"keys", "create"}, code: 1, stderr: "name is required"},
		{name: "create bad operation", args: []string{"keys", "create", "--name", "x", "--operations", "dance"}, code: 1, stderr: `unknown operation "dance"`},
		{name: "create bad expiry", args: []string{"keys", "create", "--name", "x", "--expires", "soon"}, code: 1, stderr: "--expires"},
		{name: "create stray argument", args: []string{"keys", "create", "--name", "x", "extra"}, code: 2, stderr: `unexpected argument "extra"`},
		{name: "list", args: []string{"keys", "list"},
			stdout: []string{"{key1}", "ci", "team", "active", "gpt-4o*,o1", "chat,embeddings", "1000/10"}, notStdout: []string{"{plain1}"}},
		{name: "list json", args: []string{"keys", "list", "--json"}, stdout: []string{`"id": "{key1}"`, `"status": "active"`},
			notStdout: []string{"{plain1}", `"key":`}},
		{name: "regenerate with grace", args: []string{"keys", "regenerate", "{key1}", "--grace", "10m"},
			stdout:  []string{"replaces: {key1}"},
			capture: func(out string) { vars["key2"] = firstMatch(t, idLine, out) }},
		{name: "old key revoking", args: []string{"keys", "list"}, stdout: []string{"revoking"}},
		{name: "revoke (flags after the ID)", args: []string{"keys", "revoke", "{key2}", "--config", "{config}"}, stdout: []string{"key {key2} (ci) revoked at"}},
		{name: "revoke without ID", args: []string{"keys", "revoke"}, code: 2, stderr: "usage: moat keys revoke"},
		{name: "revoke unknown", args: []string{"keys", "revoke", "ffffffffffff"}, code: 1, stderr: `key "ffffffffffff" not found`},
		{name: "unknown keys subcommand", args: []string{"keys", "rotate"}, code: 2, stderr: "usage: moat keys create"},
		{name: "assign", args: []string{"roles", "assign", "--role", "Cognitive Services OpenAI User", "--principal", "object:" + testOID,
			"--scope", "/deployments/gpt-4o*"},
			capture: func(out string) { vars["asg"] = firstMatch(t, asgLine, out) }},
		{name: "assign again", args: []string{"roles", "assign", "--role", "cognitive services openai user", "--principal", "object:" + strings.ToUpper(testOID),
			"--scope", "/deployments/gpt-4o*"}, code: 1, stderr: "already exists"},
		{name: "assign custom role from config", args: []string{"roles", "assign", "--role", "chat only", "--principal", "key:{key1}"},
			stdout: []string{`"Chat Only" to key:{key1} at /`}},
		{name: "assign unknown role", args: []string{"roles", "assign", "--role", "Owner", "--principal", "group:x", "--scope", "/subscriptions/x"},
			code: 1, stderr: `unknown role "Owner"`},
		{name: "roles list", args: []string{"roles", "list"}, stdout: []string{"{asg}", "object:" + testOID, "/deployments/gpt-4o*", "cli:"}},
		{name: "definitions", args: []string{"roles", "definitions"}, stdout: []string{"Moat Administrator", "Chat Only", "Moat/*"}},
		{name: "remove", args: []string{"roles", "remove", "{asg}"}, stdout: []string{"removed assignment {asg}"}},
		{name: "remove again", args: []string{"roles", "remove", "{asg}"}, code: 1, stderr: "not found"},
		{name: "audit list", args: []string{"audit", "list"},
			stdout: []string{"key.create", "key.regenerate", "key.revoke", "role.assign", "role.remove", "cli:"}, notStdout: []string{"{plain1}"}},
		{name: "audit list json page", args: []string{"audit", "list", "--after", "4", "-n", "1", "--json"},
			stdout: []string{`"seq": 5`, `"prev_hash"`}, notStdout: []string{`"seq": 6`}},
		{name: "audit verify", args: []string{"audit", "verify"}, stdout: []string{"audit log intact: 6 entries; head seq 6"}},
		{name: "audit verify after an edit", args: []string{"audit", "verify"}, code: 1,
			stdout: []string{"audit log BROKEN"}, stderr: "audit chain broken at seq 2",
			before: func(t *testing.T) {
				for _, q := range b.unguard {
					b.exec(t, q)
				}
				b.exec(t, `UPDATE audit_log SET details = '{"name":"innocent"}' WHERE seq = 2`)
			}},
		{name: "audit verify after a deletion", args: []string{"audit", "verify"}, code: 1, stderr: "audit chain broken at seq 2",
			before: func(t *testing.T) { b.exec(t, `DELETE FROM audit_log WHERE seq = 2`) }},
	}
	vars["config"] = b.config
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before(t)
			}
			args := []string{st.args[0], st.args[1]}
			for _, a := range st.args[2:] {
				args = append(args, expand(a))
			}
			if !contains(args, "--config") {
				args = append(args, "--config", b.config)
			}
			var stdout, stderr bytes.Buffer
			code := cli.Main(context.Background(), args, &stdout, &stderr)
			if code != st.code {
				t.Fatalf("moat %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, st.code, &stdout, &stderr)
			}
			for _, s := range st.stdout {
				if !strings.Contains(stdout.String(), expand(s)) {
					t.Errorf("stdout lacks %q:\n%s", expand(s), &stdout)
				}
			}
			for _, s := range st.notStdout {
				if s = expand(s); s != "" && strings.Contains(stdout.String(), s) {
					t.Errorf("stdout contains %q:\n%s", s, &stdout)
				}
			}
			if !strings.Contains(stderr.String(), st.stderr) {
				t.Errorf("stderr lacks %q:\n%s", st.stderr, &stderr)
			}
			if st.capture != nil {
				st.capture(stdout.String())
			}
		})
		if vars["plain1"] != "" && st.name == "create" {
			checkVerifies(t, b, vars["plain1"])
		}
	}
}

// checkVerifies opens the store as the gateway does, with the configured
// pepper, and checks that a key the CLI printed verifies.
func checkVerifies(t *testing.T, b backend, plaintext string) {
	t.Helper()
	v, err := auth.NewKeyVerifier(auth.KeyVerifierOptions{Stores: []auth.KeyStore{b.keys(t)}, Hasher: auth.NewHasher([]byte(testPepper))})
	if err != nil {
		t.Fatal(err)
	}
	k, err := v.Verify(context.Background(), plaintext)
	if err != nil {
		t.Fatalf("a key made by moat keys create does not verify: %v", err)
	}
	if k.Name != "ci" || k.Limits.TPM != 1000 || len(k.Deployments) != 2 || k.ExpiresAt.IsZero() {
		t.Errorf("stored key %+v", k)
	}
}

func firstMatch(t *testing.T, re *regexp.Regexp, s string) string {
	t.Helper()
	m := re.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("output does not match %s:\n%s", re, s)
	}
	return m[1]
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
