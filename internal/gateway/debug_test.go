package gateway

import (
	"fmt"
	"strings"
	"testing"
)

// TestPprof: profiles are served on the management plane to the admin
// role only, and a profile cannot be asked to run for long.
func TestPprof(t *testing.T) {
	const userKey = "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"
	ts := startServer(t, fmt.Sprintf(`
auth:
  keys: [{name: ops, key: %s}, {name: app, key: %s}]
  assignments:
    - {role: Moat Administrator, principal: 'key:ops'}
    - {role: Cognitive Services OpenAI User, principal: 'key:app'}
`, adminKey, userKey))
	tests := []struct {
		name   string
		path   string
		hdr    []string
		status int
		want   string
	}{
		{name: "anonymous", path: "/debug/pprof/", status: 401},
		{name: "data-plane caller", path: "/debug/pprof/", hdr: []string{"api-key", userKey}, status: 401, want: "Moat/debug/read"},
		{name: "index", path: "/debug/pprof/", hdr: []string{"api-key", adminKey}, status: 200, want: "goroutine"},
		{name: "heap", path: "/debug/pprof/heap?debug=1", hdr: []string{"api-key", adminKey}, status: 200, want: "heap profile"},
		{name: "goroutines", path: "/debug/pprof/goroutine?debug=1", hdr: []string{"api-key", adminKey}, status: 200, want: "goroutine profile"},
		{name: "cpu 1s", path: "/debug/pprof/profile?seconds=1", hdr: []string{"api-key", adminKey}, status: 200},
		{name: "cpu too long", path: "/debug/pprof/profile?seconds=3600", hdr: []string{"api-key", adminKey}, status: 400, want: "seconds"},
		{name: "trace bad", path: "/debug/pprof/trace?seconds=x", hdr: []string{"api-key", adminKey}, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := do(t, "GET", ts.mgmtURL+tt.path, "", tt.hdr...)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("%s: %d %.200s", tt.path, status, body)
			}
		})
	}
}
