// Package deptest keeps moat's dependencies pointing one way: leaves import
// nothing of moat's, policy packages import only leaves, only the gateway
// wires everything, and only the CLI imports the gateway (Tailscale's
// tstest/deptest).
package deptest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/moat-gw/moat/"

// allowed lists, per package, the moat packages it may import. Packages not
// listed here may import anything except gateway and cli.
var allowed = map[string][]string{
	// openai renders httpx.Errors in Azure's shapes (openai.Errors), so the
	// one wire leaf sits above the other; httpx imports nothing of moat's.
	"internal/openai": {"internal/httpx"},
	"internal/httpx":  {},
	// The Anthropic Messages API's wire shapes, a leaf like openai.
	"internal/anthropic": {},
	// The request log journals records in its spool, a leaf of its own.
	"internal/reqlog":       {"internal/reqlog/spool"},
	"internal/reqlog/spool": {},
	"internal/audit":        {},
	"internal/tokens":       {"internal/openai"},
	"internal/netpolicy":    {"internal/openai", "internal/httpx"},
	"internal/auth":         {"internal/openai", "internal/httpx"},
	"internal/rbac":         {"internal/openai", "internal/httpx"},
	"internal/ratelimit":    {"internal/openai", "internal/httpx"},
	"internal/route":        {"internal/openai", "internal/httpx"},
	"internal/kql":          {"internal/reqlog"},
	// upstream's protocols know wire formats only, never a policy.
	"internal/upstream":  {"internal/openai"},
	"internal/simulator": {"internal/openai", "internal/tokens"},
	"internal/idp":       {},
	// affinity declares the pin store it needs; the stores implement it.
	"internal/affinity": {},
	// redact finds and rewrites personal data; it knows nothing of moat.
	"internal/redact": {},
	// telemetry knows nothing of moat: the gateway fills its Call.
	"internal/telemetry":          {},
	"internal/telemetry/otlptest": {},
	// admin declares the store interfaces it needs, so it imports no store,
	// and it is wired by the gateway and the CLI, so it imports neither.
	"internal/admin": {"internal/openai", "internal/httpx", "internal/auth", "internal/rbac", "internal/audit", "internal/team"},
	// team, cost and budget are policy: team and cost are leaves; budget
	// reuses ratelimit's reservations and prices calls with cost.
	"internal/team":   {},
	"internal/cost":   {},
	"internal/budget": {"internal/ratelimit", "internal/httpx"},
	// logquery and the dashboard read the log through KQL and know nothing
	// of the gateway, routing or stores.
	"internal/logquery":  {"internal/kql", "internal/reqlog", "internal/openai", "internal/httpx"},
	"internal/dashboard": {"internal/logquery", "internal/kql", "internal/openai", "internal/httpx", "internal/report", "internal/webui"},
	// webui is the browser code the dashboard and the studio share.
	"internal/webui": {},
	// report writes the chargeback query; the CLI and the dashboard run it.
	"internal/report": {"internal/logquery", "internal/kql", "internal/reqlog", "internal/openai", "internal/httpx"},
	// The studio acts only through hooks the gateway gives it (admin API,
	// pipeline, query API), so it imports no store, admin or gateway code.
	"internal/studio": {"internal/logquery", "internal/openai", "internal/httpx", "internal/rbac", "internal/webui"},
	// The data plane is the request path: policy packages, the upstream
	// transport, the request-log record and telemetry. What it needs of
	// stores and the admin API it declares as interfaces that the gateway
	// (the process) adapts; TestDataPlaneDeps also keeps them out of its
	// transitive imports.
	"internal/dataplane": {"internal/openai", "internal/httpx", "internal/audit", "internal/auth", "internal/config",
		"internal/netpolicy", "internal/ratelimit", "internal/rbac", "internal/redact", "internal/reqlog", "internal/route",
		"internal/telemetry", "internal/upstream", "internal/affinity", "internal/anthropic", "internal/team", "internal/cost", "internal/budget"},
}

// neverBelow lists, per package, moat packages (and their subpackages) that
// must not be among its dependencies, direct or not.
var neverBelow = map[string][]string{
	"internal/dataplane": {"internal/store", "internal/admin", "internal/kql", "internal/logquery", "internal/dashboard",
		"internal/gateway", "internal/cli"},
}

func TestDataPlaneDeps(t *testing.T) {
	for pkg, banned := range neverBelow {
		out, err := exec.Command("go", "list", "-deps", "../../"+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 2 {
			t.Fatalf("go list -deps %s returned %d packages", pkg, len(deps))
		}
		for _, imp := range deps {
			dep, ours := strings.CutPrefix(imp, mod)
			if !ours {
				continue
			}
			for _, b := range banned {
				if dep == b || strings.HasPrefix(dep, b+"/") {
					t.Errorf("%s depends on %s; it must not depend on %s", pkg, dep, b)
				}
			}
		}
	}
}

func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		name := strings.TrimPrefix(p.ImportPath, mod)
		ok, restricted := allowed[name]
		for _, imp := range p.Imports {
			dep, ours := strings.CutPrefix(imp, mod)
			if !ours {
				continue
			}
			if dep == "internal/gateway" && name != "internal/cli" && !strings.HasPrefix(name, "bench/") && !strings.HasPrefix(name, "internal/gateway") {
				t.Errorf("%s imports the gateway; only internal/cli may", name)
			}
			if dep == "internal/cli" && name != "cmd/moat" {
				t.Errorf("%s imports internal/cli; only cmd/moat may", name)
			}
			if restricted && !contains(ok, dep) {
				t.Errorf("%s imports %s; allowed: %v", name, dep, ok)
			}
		}
	}
	if seen < 20 {
		t.Fatalf("go list returned %d packages", seen)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
