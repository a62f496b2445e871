package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/simulator"
	"github.com/moat-gw/moat/internal/tokens"
)

// newSim builds a simulator (an "Azure resource") with faults.
func newSim(t *testing.T, f simulator.Faults) *simulator.Server {
	t.Helper()
	sim, err := simulator.New(simulator.Options{
		Deployments: []simulator.Deployment{{Name: "gpt-4o-mini", Model: "gpt-4o-mini"}},
		Faults:      f, Seed: 7,
	}, tokens.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return sim
}

// startSim serves a simulator with faults on httptest.
func startSim(t *testing.T, f simulator.Faults) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(newSim(t, f))
	t.Cleanup(srv.Close)
	return srv
}

// poolConfig is a deployment "chat" over two simulated Azure resources.
func poolConfig(a, b string, aPrio, bPrio int, extra string) string {
	return fmt.Sprintf(`
upstreams:
  - {name: a, type: azure, endpoint: '%s', api_key: key-a, timeout: 300ms}
  - {name: b, type: azure, endpoint: '%s', api_key: key-b, timeout: 300ms}
deployments:
  - name: chat
    model: gpt-4o-mini
    upstreams:
      - {upstream: a, deployment: gpt-4o-mini, priority: %d}
      - {upstream: b, deployment: gpt-4o-mini, priority: %d}
%s`, a, b, aPrio, bPrio, extra)
}

func chatURL(ts *testServer) string {
	return ts.url + "/openai/deployments/chat/chat/completions?api-version=2024-10-21"
}

// TestSpilloverAndBack: a throttled first tier spills to the second with
// zero failed calls, and traffic returns when the bench (retry-after) ends.
func TestSpilloverAndBack(t *testing.T) {
	ptu := startSim(t, simulator.Faults{RateLimitRate: 1})
	paygo := startSim(t, simulator.Faults{})
	clk := newClock()
	ts := startServerOpts(t, poolConfig(ptu.URL, paygo.URL, 1, 2, ""), Options{Now: clk.Now})
	for i := range 10 {
		if status, _, body := do(t, "POST", chatURL(ts), chatBody, "api-key", "k"); status != 200 {
			t.Fatalf("call %d: %d %s", i, status, body)
		}
	}
	// The bench is the 429's retry-after (1–10 s): after it, tier 1 is tried again.
	clk.Add(11 * time.Second)
	status, _, _ := do(t, "POST", chatURL(ts), chatBody, "api-key", "k")
	if status != 200 {
		t.Fatal(status)
	}
	recs := ts.records()
	if recs[0].Attempts != 2 || recs[0].Upstream != "b" || !strings.Contains(recs[0].ErrorMessage, "a 429") {
		t.Fatalf("first call: %+v", recs[0])
	}
	for _, r := range recs[1:10] {
		if r.Attempts != 1 || r.Upstream != "b" {
			t.Fatalf("benched tier 1 was retried: %+v", r)
		}
	}
	if last := recs[10]; last.Attempts != 2 || !strings.HasPrefix(last.ErrorMessage, "attempts: a 429") {
		t.Fatalf("tier 1 not retried after its bench: %+v", last)
	}
}

// TestBreakerOpensAndCloses: a failing member inside a tier trips its
// breaker; calls keep succeeding on the other; after open_for one probe goes
// to it, and once it is healthy again the breaker closes.
func TestBreakerOpensAndCloses(t *testing.T) {
	bad := newSim(t, simulator.Faults{ErrorRate: 1})
	good := newSim(t, simulator.Faults{})
	var healthy atomic.Bool
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if healthy.Load() {
			good.ServeHTTP(w, r)
			return
		}
		bad.ServeHTTP(w, r)
	}))
	t.Cleanup(a.Close)
	b := startSim(t, simulator.Faults{})
	clk := newClock()
	ts := startServerOpts(t, poolConfig(a.URL, b.URL, 1, 1, `
routing:
  breaker: {consecutive_failures: 3, failure_rate: -1, open_for: 30s}
`), Options{Now: clk.Now})
	for i := range 30 {
		if status, _, body := do(t, "POST", chatURL(ts), chatBody, "api-key", "k"); status != 200 {
			t.Fatalf("call %d: %d %s", i, status, body)
		}
	}
	_, _, metrics := do(t, "GET", ts.mgmtURL+"/metrics", "")
	if !strings.Contains(metrics, `moat_upstream_breaker_state{deployment="chat",upstream="a"} 2`) {
		t.Fatalf("breaker not open in metrics:\n%s", grep(metrics, "breaker"))
	}
	status, _, body := do(t, "GET", ts.mgmtURL+"/status", "")
	if status != 200 || !strings.Contains(body, `"upstream":"a","state":"open"`) {
		t.Fatalf("status: %d %s", status, body)
	}
	healthy.Store(true)
	clk.Add(31 * time.Second)
	for i := range 10 {
		if status, _, _ := do(t, "POST", chatURL(ts), chatBody, "api-key", "k"); status != 200 {
			t.Fatalf("call after recovery %d: %d", i, status)
		}
	}
	_, _, metrics = do(t, "GET", ts.mgmtURL+"/metrics", "")
	if !strings.Contains(metrics, `moat_upstream_breaker_state{deployment="chat",upstream="a"} 0`) {
		t.Fatalf("breaker not closed after a good probe:\n%s", grep(metrics, "breaker"))
	}
	tried := 0
	for _, r := range ts.records()[:30] {
		if strings.Contains(r.ErrorMessage, "a 500") {
			tried++
		}
	}
	if tried != 3 {
		t.Fatalf("the failing member was tried %d times; the breaker should stop it after 3", tried)
	}
}

// TestNoRetryAfterStreamStarted: a stream cut mid-way is not retried, since
// bytes already reached the client.
func TestNoRetryAfterStreamStarted(t *testing.T) {
	drop := startSim(t, simulator.Faults{DropStreamRate: 1})
	good := startSim(t, simulator.Faults{})
	ts := startServer(t, poolConfig(drop.URL, good.URL, 1, 2, ""))
	resp := post(t, context.Background(), chatURL(ts), `{"messages":[{"role":"user","content":"s"}],"max_tokens":30,"stream":true}`)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The client sees the cut (the connection is aborted), never a retry.
	if resp.StatusCode != 200 || err == nil || strings.Contains(string(body), "[DONE]") {
		t.Fatalf("%d %v %q", resp.StatusCode, err, body)
	}
	rec := ts.records()[0]
	if rec.Attempts != 1 || rec.Upstream != "a" || !rec.Streamed || rec.ErrorKind != "upstream_error" {
		t.Fatalf("%+v", rec)
	}
}

// TestProxiedHeaders: correlation headers appear once; the upstream's region
// and request ID are kept, moat's apim-request-id is the correlation ID.
func TestProxiedHeaders(t *testing.T) {
	a := startSim(t, simulator.Faults{})
	ts := startServer(t, poolConfig(a.URL, a.URL+"/", 1, 2, ""))
	_, h, _ := do(t, "POST", chatURL(ts), chatBody, "api-key", "k", "X-Ms-Client-Request-Id", "client-1")
	for _, k := range []string{"Apim-Request-Id", "X-Request-Id", "X-Ms-Region", "Strict-Transport-Security", "X-Ms-Client-Request-Id"} {
		if n := len(h.Values(k)); n != 1 {
			t.Errorf("%s appears %d times: %q", k, n, h.Values(k))
		}
	}
	if h.Get("X-Ms-Region") != "Sweden Central" || h.Get("X-Ms-Client-Request-Id") != "client-1" {
		t.Errorf("headers %v", h)
	}
	rec := ts.records()[0]
	if h.Get("Apim-Request-Id") != rec.RequestID {
		t.Errorf("apim-request-id %s is not the logged request ID %s", h.Get("Apim-Request-Id"), rec.RequestID)
	}
}

// TestLargeBodyNotReplayed: a body above max_retry_body_bytes gets one attempt.
func TestLargeBodyNotReplayed(t *testing.T) {
	bad := startSim(t, simulator.Faults{ErrorRate: 1})
	good := startSim(t, simulator.Faults{})
	ts := startServer(t, poolConfig(bad.URL, good.URL, 1, 2, "limits: {max_retry_body_bytes: 100}"))
	status, _, _ := do(t, "POST", chatURL(ts), `{"messages":[{"role":"user","content":"`+strings.Repeat("x", 200)+`"}],"max_tokens":5}`, "api-key", "k")
	if status != 500 {
		t.Fatalf("a body too large to replay was retried: %d", status)
	}
	if status, _, _ := do(t, "POST", chatURL(ts), chatBody, "api-key", "k"); status != 200 {
		t.Fatalf("a small body fails over: %d", status)
	}
}

// TestSlowFirstByteFailsOver: a member that does not answer within its
// first-byte timeout is left for the next.
func TestSlowFirstByteFailsOver(t *testing.T) {
	hang := startSim(t, simulator.Faults{TimeoutRate: 1})
	good := startSim(t, simulator.Faults{})
	ts := startServer(t, poolConfig(hang.URL, good.URL, 1, 2, ""))
	if status, _, body := do(t, "POST", chatURL(ts), chatBody, "api-key", "k"); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	rec := ts.records()[0]
	if rec.Attempts != 2 || rec.Upstream != "b" || !strings.Contains(rec.ErrorMessage, "a error") {
		t.Fatalf("%+v", rec)
	}
}

// TestAllMembersDown: with every member benched, moat answers 503 with a
// retry-after rather than calling anyone.
func TestAllMembersDown(t *testing.T) {
	a := startSim(t, simulator.Faults{RateLimitRate: 1})
	b := startSim(t, simulator.Faults{RateLimitRate: 1})
	ts := startServer(t, poolConfig(a.URL, b.URL, 1, 2, ""))
	status, _, _ := do(t, "POST", chatURL(ts), chatBody, "api-key", "k")
	if status != 429 {
		t.Fatalf("first call: %d (the last 429 is passed through)", status)
	}
	status, h, body := do(t, "POST", chatURL(ts), chatBody, "api-key", "k")
	if status != 503 || h.Get("Retry-After") == "" {
		t.Fatalf("%d %v %s", status, h, body)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
