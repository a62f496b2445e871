package dashboard

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps the dependency direction of STYLE.md: the dashboard
// reads the log through logquery and knows nothing of the gateway, routing
// or stores; the gateway adapts its state to UpstreamStatus.
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"github.com/moat-gw/moat/internal/logquery": true,
		"github.com/moat-gw/moat/internal/kql":      true,
		"github.com/moat-gw/moat/internal/openai":   true,
		"github.com/moat-gw/moat/internal/httpx":    true,
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
