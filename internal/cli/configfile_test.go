package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigDiscovery checks that every store command finds the same
// config: --config, then $MOAT_CONFIG, then ./moat.yaml, then the defaults
// with a warning. A key made by `moat keys create` must land in the store
// `moat serve` reads.
func TestConfigDiscovery(t *testing.T) {
	dir := t.TempDir()
	write := func(name, dataDir string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("data_dir: "+filepath.Join(dir, dataDir)+"\n"+simulated), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("moat.yaml", "cwd-data")
	envFile := write("env.yaml", "env-data")
	flagFile := write("flag.yaml", "flag-data")
	t.Chdir(dir)

	created := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(append([]string{"keys", "create", "--name", "k"}, args...)...)
		if code != 0 {
			t.Fatalf("keys create %v: %d %s", args, code, stderr)
		}
		if !strings.Contains(stdout, "key") {
			t.Fatalf("stdout %q", stdout)
		}
		return stderr
	}
	exists := func(dataDir string) bool {
		_, err := os.Stat(filepath.Join(dir, dataDir, "moat.db"))
		return err == nil
	}

	created()
	if !exists("cwd-data") {
		t.Error("./moat.yaml was not used without --config or MOAT_CONFIG")
	}
	t.Setenv("MOAT_CONFIG", envFile)
	created()
	if !exists("env-data") {
		t.Error("MOAT_CONFIG was not used")
	}
	created("--config", flagFile)
	if !exists("flag-data") {
		t.Error("--config was not used")
	}

	// With nothing to find: the defaults, and a warning that says so.
	t.Setenv("MOAT_CONFIG", "")
	if err := os.Remove(filepath.Join(dir, "moat.yaml")); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("config", "validate")
	if code != 0 || !strings.Contains(stderr, "warning: no config file") || !strings.Contains(stdout, "built-in defaults: ok") {
		t.Errorf("no file: %d %q %q", code, stdout, stderr)
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("listeners:\n  - name: a\n    adress: x\nlog: {queue_size: many}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret.yaml")
	if err := os.WriteFile(secret, []byte(simulated+"log: {store: postgres, postgres_dsn: '${MOAT_TEST_NOT_SET_DSN}'}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
	}{
		{name: "every problem", args: []string{"--config", bad}, code: 1, stdout: []string{
			"4 problem(s)", "line 3: listeners[0].adress: unknown key; did you mean address?",
			`line 4: log.queue_size: want a whole number, got "many"`, "deployments: none configured"}},
		{name: "json", args: []string{"--config", bad, "-o", "json"}, code: 1, stdout: []string{`"ok": false`, `"problems": [`}},
		{name: "missing secret", args: []string{"--config", secret}, code: 1, stdout: []string{"MOAT_TEST_NOT_SET_DSN is not set"}},
		{name: "no secrets", args: []string{"--config", secret, "--no-secrets"}, code: 0, stdout: []string{": ok (2 listeners, 1 upstreams, 1 deployments)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(append([]string{"config", "validate"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
	_, stdout, _ := runCLI("config", "validate", "--config", bad, "-o", "json")
	var v struct{ Problems []string }
	if err := json.Unmarshal([]byte(stdout), &v); err != nil || len(v.Problems) != 4 {
		t.Errorf("json problems %v %v", v.Problems, err)
	}
}

func TestConfigPrintShowsDefaults(t *testing.T) {
	p := filepath.Join(t.TempDir(), "moat.yaml")
	if err := os.WriteFile(p, []byte(simulated), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("config", "print", "--config", p)
	if code != 0 {
		t.Fatalf("%d %s", code, stderr)
	}
	for _, w := range []string{"# moat config in force, from " + p, "queue_size: 8192", "address: 127.0.0.1:8080", "kind: private_endpoint",
		"grace_period: 30s", "deployment: d"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("print lacks %q", w)
		}
	}
}
