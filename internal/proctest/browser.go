package proctest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Browser finds what a browser test needs: test/dashboard (with
// playwright-core installed by make node-deps), node, and Debian's
// chromium (CHROMIUM_PATH overrides). root is the path from the calling
// package to the module root. Without them the test skips locally and
// fails in CI.
func Browser(tb testing.TB, root string) (dir, node, chromium string) {
	tb.Helper()
	dir, err := filepath.Abs(filepath.Join(root, "test", "dashboard"))
	if err != nil {
		tb.Fatal(err)
	}
	chromium = os.Getenv("CHROMIUM_PATH")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	node, nodeErr := exec.LookPath("node")
	_, chromeErr := os.Stat(chromium)
	_, depsErr := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json"))
	for _, err := range []error{nodeErr, chromeErr, depsErr} {
		if err != nil {
			unavailable(tb, "browser test needs node, %s and make node-deps: %v", chromium, err)
		}
	}
	return dir, node, chromium
}
