package tokens

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoNetworkDependency keeps token counting offline: neither this package
// nor the tokenizer module may link a network stack, so no vocabulary can be
// fetched at run time (tiktoken in Python downloads them; this module embeds
// them).
func TestNoNetworkDependency(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "net" || strings.HasPrefix(dep, "net/") || dep == "os/exec" {
			t.Errorf("internal/tokens depends on %s; counting must stay offline", dep)
		}
	}
}
