package logquery

import (
	"go/build"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/rbac"
)

// TestImports keeps the dependency direction of STYLE.md: the query runner
// builds on the compiler and the leaves, never on the gateway or a store.
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"github.com/moat-gw/moat/internal/kql":    true,
		"github.com/moat-gw/moat/internal/reqlog": true,
		"github.com/moat-gw/moat/internal/openai": true,
		"github.com/moat-gw/moat/internal/httpx":  true,
	}
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "github.com/moat-gw/moat/") && !allowed[imp] {
			t.Errorf("imports %s", imp)
		}
	}
}

// TestDataAction keeps DataAction in step with the role definitions.
func TestDataAction(t *testing.T) {
	if DataAction != rbac.DataActionLogsRead {
		t.Errorf("DataAction = %q, rbac says %q", DataAction, rbac.DataActionLogsRead)
	}
}
