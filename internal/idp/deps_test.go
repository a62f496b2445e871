package idp

import (
	"go/build"
	"strings"
	"testing"
)

// TestImportsOnlyLeaves keeps the dependency direction of STYLE.md: this
// package imports no moat package but the leaves listed here.
func TestImportsOnlyLeaves(t *testing.T) {
	allowed := map[string]bool{}
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "github.com/moat-gw/moat/") && !allowed[imp] {
			t.Errorf("imports %s; only leaves are allowed", imp)
		}
	}
}
