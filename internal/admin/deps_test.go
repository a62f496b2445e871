package admin

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps the dependency direction of STYLE.md: admin declares
// the store interfaces it needs, so it imports no store, and it is wired
// by the gateway and the CLI, so it imports neither of them nor config.
func TestImports(t *testing.T) {
	allowed := map[string]bool{}
	for _, p := range []string{"openai", "httpx", "auth", "rbac", "audit"} {
		allowed["github.com/moat-gw/moat/internal/"+p] = true
	}
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "github.com/moat-gw/moat/") && !allowed[imp] {
			t.Errorf("imports %s; admin may import only leaves and policy packages", imp)
		}
	}
}
