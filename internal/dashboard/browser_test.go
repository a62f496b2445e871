package dashboard_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/proctest"
)

// TestBrowser opens the dashboard in Debian's Chromium, driven by
// test/dashboard/dashboard.test.mjs (playwright-core), over the seeded
// store, and checks the figures a person would read. It needs node,
// chromium and `make node-deps`; without them it skips locally and fails
// under CI. MOAT_DASHBOARD_SCREENSHOT names a file to keep the page's
// screenshot in.
func TestBrowser(t *testing.T) {
	dir, node, chromium := proctest.Browser(t, filepath.Join("..", ".."))

	srv := httptest.NewServer(newDashboard(t))
	defer srv.Close()

	expect, err := json.Marshal(map[string]any{
		"calls": "10", "tokens": "2,508", "throttled": "2", "errors": "2",
		"deployment": "gpt-4o", "deploymentTokens": "2,400",
		"recentRows": 10, "throttledRows": 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	shot := os.Getenv("MOAT_DASHBOARD_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "dashboard.png")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "dashboard.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"DASHBOARD_URL="+srv.URL+"/dashboard/",
		"DASHBOARD_KEY="+testKey,
		"DASHBOARD_EXPECT="+string(expect),
		"DASHBOARD_SCREENSHOT="+shot,
		"CHROMIUM_PATH="+chromium,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("browser test failed: %v", err)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Errorf("no screenshot at %s: %v", shot, err)
	}
}
