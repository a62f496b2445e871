package logquery_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/moat-gw/moat/internal/logquery"
)

// TestLimiterAdmit: the per-principal cap and the overall cap refuse at
// once, and released slots come back.
func TestLimiterAdmit(t *testing.T) {
	l := logquery.NewLimiter(1, func() logquery.Limits { return logquery.Limits{MaxConcurrent: 3, MaxPerPrincipal: 2} })
	steps := []struct {
		principal string
		wantBusy  string // "" admitted; else a substring of the error
	}{
		{"a", ""}, {"a", ""}, {"a", "at most 2 for this caller"},
		{"b", ""}, {"c", "at most 3 on this moat"},
	}
	var releases []func()
	for i, s := range steps {
		rel, err := l.Admit(s.principal)
		switch {
		case s.wantBusy == "" && err != nil:
			t.Fatalf("step %d: %v", i, err)
		case s.wantBusy != "" && (err == nil || !strings.Contains(err.Error(), s.wantBusy)):
			t.Fatalf("step %d: err %v, want %q", i, err, s.wantBusy)
		case err == nil:
			releases = append(releases, rel)
		}
	}
	releases[0]()
	releases[0]() // a second release is harmless
	if rel, err := l.Admit("c"); err != nil {
		t.Fatalf("after a release: %v", err)
	} else {
		rel()
	}
}

// TestLimiterGate: statements never run more than Workers at a time.
func TestLimiterGate(t *testing.T) {
	const workers = 2
	l := logquery.NewLimiter(workers, func() logquery.Limits { return logquery.Limits{} })
	var running, peak atomic.Int32
	gated := l.Gate(func(context.Context, string) (*logquery.Result, error) {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		for range 1000 {
			_ = strings.Repeat("x", 100) // some work while holding the slot
		}
		running.Add(-1)
		return &logquery.Result{}, nil
	})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := gated(context.Background(), "q"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > workers || p < 1 {
		t.Fatalf("peak %d statements at once, workers %d", p, workers)
	}
}

// TestHandlerBusy: a caller over its cap gets Azure's 429 with Retry-After
// while its first query still runs, and is admitted again afterwards.
func TestHandlerBusy(t *testing.T) {
	l := logquery.NewLimiter(1, func() logquery.Limits { return logquery.Limits{MaxPerPrincipal: 1} })
	started, finish := make(chan struct{}), make(chan struct{})
	h := logquery.Handler(logquery.HandlerOptions{Authorize: testAuthorize, Admit: l.Admit,
		Query: func(ctx context.Context, q string) (*logquery.Result, error) {
			if q == "slow" {
				close(started)
				<-finish
			}
			return &logquery.Result{}, nil
		}})
	post := func(q string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/api/query", strings.NewReader(q))
		r.Header.Set("api-key", "reader")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- post("slow") }()
	<-started
	w := post("MoatGatewayLogs | take 1")
	want := `{"error":{"code":"429","message": "Too many log queries are in progress: at most 1 for this caller. Please retry after 1 seconds."}}`
	if w.Code != 429 || w.Body.String() != want || w.Header().Get("Retry-After") != "1" || w.Header().Get("Retry-After-Ms") != "1000" {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	close(finish)
	if w := <-done; w.Code != 200 {
		t.Fatalf("slow query: %d %s", w.Code, w.Body)
	}
	if w := post("MoatGatewayLogs | take 1"); w.Code != 200 {
		t.Fatalf("after the slow query: %d %s", w.Code, w.Body)
	}
}
