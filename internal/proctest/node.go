package proctest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// NodeTest runs one node:test file of test/sdk/node (script, such as
// "anthropic.test.mjs") with env added to the environment, and fails tb
// with node's output when a test fails. root is the path from the calling
// package to the module root; pkg is an npm package the script imports,
// checked in test/sdk/node/node_modules so that a stale install reads as
// "run make node-deps" rather than an import error. Without node or the
// package the test skips locally and fails in CI.
//
// The scripts take their target from the environment: anthropic.test.mjs
// reads ANTHROPIC_TEST_URL (base URL: http://host:port for /v1/messages,
// http://host:port/anthropic for Foundry's path), ANTHROPIC_TEST_KEY or
// ANTHROPIC_TEST_TOKEN (a bearer token instead of the key) and
// ANTHROPIC_TEST_MODEL.
func NodeTest(tb testing.TB, root, script, pkg string, env ...string) {
	tb.Helper()
	dir, err := filepath.Abs(filepath.Join(root, "test", "sdk", "node"))
	if err != nil {
		tb.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json"))
	}
	if err != nil {
		unavailable(tb, "node SDK test needs node and %s in test/sdk/node (run make node-deps): %v", pkg, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	tb.Logf("node --test %s:\n%s", script, out)
	if err != nil {
		tb.Fatalf("node SDK tests failed: %v", err)
	}
}
