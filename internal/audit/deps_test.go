package audit

import (
	"go/build"
	"strings"
	"testing"
)

// TestImportsNothingOfMoat keeps audit a leaf (STYLE.md): stores and admin
// both import it, so it may import neither.
func TestImportsNothingOfMoat(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "github.com/moat-gw/moat/") {
			t.Errorf("imports %s; audit is a leaf", imp)
		}
	}
}
