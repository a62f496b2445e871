package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestHelp checks that "moat help CMD" is "moat CMD --help": on stdout,
// exit 0, long flags spelled --name.
func TestHelp(t *testing.T) {
	tests := [][]string{
		{"serve"}, {"config", "validate"}, {"keys", "create"}, {"keys", "list"}, {"roles", "assign"},
		{"audit", "list"}, {"logs", "tail"}, {"logs", "query"}, {"status"}, {"version"}, {"keys"}, {"roles"},
		{"doctor"}, {"dns", "records"},
	}
	singleDashLong := regexp.MustCompile(`(?m)^  -[a-z][a-z-]+`)
	for _, cmd := range tests {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			code, viaHelp, stderr := runCLI(append([]string{"help"}, cmd...)...)
			if code != 0 || stderr != "" || viaHelp == "" {
				t.Fatalf("moat help %v: exit %d, stdout %q, stderr %q", cmd, code, viaHelp, stderr)
			}
			code, viaFlag, _ := runCLI(append(cmd, "--help")...)
			if code != 0 || viaFlag != viaHelp {
				t.Errorf("moat %v --help: exit %d, differs from moat help:\n%s\n---\n%s", cmd, code, viaFlag, viaHelp)
			}
			if m := singleDashLong.FindString(viaHelp); m != "" {
				t.Errorf("help spells a long flag with one dash: %q", m)
			}
		})
	}
	if code, stdout, _ := runCLI("help"); code != 0 || !strings.Contains(stdout, "moat completion bash|zsh") {
		t.Errorf("moat help: %d %q", code, stdout)
	}
}

func TestOutputJSON(t *testing.T) {
	code, stdout, _ := runCLI("version", "-o", "json")
	var v struct{ Version, GoVersion string }
	if err := json.Unmarshal([]byte(stdout), &v); code != 0 || err != nil || v.Version == "" {
		t.Errorf("version -o json: %d %v %q", code, err, stdout)
	}
	if code, _, stderr := runCLI("version", "-o", "yaml"); code != 2 || !strings.Contains(stderr, "want table or json") {
		t.Errorf("-o yaml: %d %q", code, stderr)
	}
	cfg := sqliteBackend(t).config
	code, stdout, _ = runCLI("keys", "create", "--name", "ci", "-o", "json", "--config", cfg)
	var k struct{ ID, Name, Key string }
	if err := json.Unmarshal([]byte(stdout), &k); code != 0 || err != nil || k.ID == "" || !strings.HasPrefix(k.Key, "moat_") || k.Name != "ci" {
		t.Errorf("keys create -o json: %d %v %q", code, err, stdout)
	}
	code, stdout, _ = runCLI("keys", "list", "-o", "json", "--config", cfg)
	if code != 0 || !strings.Contains(stdout, `"id": "`+k.ID+`"`) {
		t.Errorf("keys list -o json: %d %q", code, stdout)
	}
}

// TestCompletionScript checks the bash script parses and names commands.
func TestCompletionScript(t *testing.T) {
	for _, sh := range []string{"bash", "zsh"} {
		code, stdout, stderr := runCLI("completion", sh)
		if code != 0 || !strings.Contains(stdout, "complete -F _moat moat") || !strings.Contains(stdout, `keys) COMPREPLY=($(compgen -W "create list revoke regenerate"`) {
			t.Fatalf("completion %s: %d %q %q", sh, code, stdout, stderr)
		}
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	_, script, _ := runCLI("completion", "bash")
	f := t.TempDir() + "/moat.bash"
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bash, "-n", f).CombinedOutput(); err != nil {
		t.Errorf("bash -n: %v\n%s", err, out)
	}
}
