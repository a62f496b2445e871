package simulator

import (
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/tokens"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// sharedCounter loads each vocabulary once for the whole test binary.
var sharedCounter = sync.OnceValue(tokens.New)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_750_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// noSleep is the test Sleep: it returns at once unless ctx has ended.
func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// testOptions are DefaultOptions with a fixed clock and no real waits.
func testOptions(c *clock) Options {
	o := DefaultOptions()
	o.Seed = 42
	o.Now = c.Now
	o.Sleep = noSleep
	return o
}

func newServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts, sharedCounter(), nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// call sends one request through the handler and returns the recording.
func call(s http.Handler, method, path, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

const (
	chatPath  = "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
	embedPath = "/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21"
)

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}
