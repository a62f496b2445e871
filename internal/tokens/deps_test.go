package tokens

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestNoNetworkDependency keeps token counting offline: neither this package
// nor the tokenizer module may link a network stack, so no vocabulary can be
// fetched at run time (tiktoken in Python downloads them; this module embeds
// them). moat's own packages that tokens imports (openai, the wire format,
// whose error renderer names net/http types) are not followed: the layering
// test holds them, and none of them counts tokens.
func TestNoNetworkDependency(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-json=ImportPath,Imports,Standard", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	type pkg struct {
		ImportPath string
		Imports    []string
		Standard   bool
	}
	pkgs := map[string]pkg{}
	var self string
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
		self = p.ImportPath // go list -deps prints the package itself last
	}
	const moat = "github.com/moat-gw/moat/"
	seen := map[string]bool{}
	var walk func(path, via string)
	walk = func(path, via string) {
		if seen[path] {
			return
		}
		seen[path] = true
		if path == "net" || strings.HasPrefix(path, "net/") || path == "os/exec" {
			t.Errorf("internal/tokens depends on %s (through %s); counting must stay offline", path, via)
			return
		}
		for _, imp := range pkgs[path].Imports {
			if strings.HasPrefix(imp, moat) {
				continue
			}
			walk(imp, path)
		}
	}
	walk(self, self)
	if !seen["github.com/tiktoken-go/tokenizer"] {
		t.Errorf("the tokenizer module was not reached; the walk is wrong (saw %d packages)", len(seen))
	}
}
