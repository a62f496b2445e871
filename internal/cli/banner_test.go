package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/cli"
)

// syncBuffer is a bytes.Buffer safe to read while moat serve writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBannerTellsTheTruth starts moat serve with authentication on and
// checks the banner does not invite `api-key: any` and names the dashboard.
func TestBannerTellsTheTruth(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "moat.yaml")
	body := "data_dir: " + dir + "\n" +
		"listeners: [{name: d, address: '127.0.0.1:0'}]\n" +
		"management: {listeners: [{name: m, address: '127.0.0.1:0', kind: private_endpoint}]}\n" +
		"auth: {keys: [{name: k1, key: '0123456789abcdef0123456789abcdef'}]}\n" + simulated
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errs syncBuffer
	done := make(chan int)
	go func() { done <- cli.Main(ctx, []string{"serve", "--config", cfg}, &out, &errs) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "SDKs:") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exit %d: %s", code, errs.String())
	}
	banner := out.String()
	for _, want := range []string{"config:      " + cfg, "auth:        on", `"api-key: $MOAT_API_KEY"`, "/dashboard/", "deployments: d"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	if strings.Contains(banner, "api-key: any") || strings.Contains(banner, "=any") {
		t.Errorf("banner invites any key while auth is on:\n%s", banner)
	}
}
