package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/tokens"
)

// fakeUpstream is an OpenAI-compatible server that streams chunks on demand.
type fakeUpstream struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []map[string]any
	headers  []http.Header
	step     chan struct{} // each receive lets one more chunk out (nil: no pacing)
	canceled chan struct{} // closed when a streaming request's context ends early
	noUsage  bool          // never send usage, even when asked
}

func newFakeUpstream(t *testing.T, paced bool) *fakeUpstream {
	f := &fakeUpstream{canceled: make(chan struct{})}
	if paced {
		f.step = make(chan struct{})
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeUpstream) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	f.headers = append(f.headers, r.Header.Clone())
	f.mu.Unlock()
	if body["stream"] != true {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8}}`)
		return
	}
	includeUsage := false
	if so, ok := body["stream_options"].(map[string]any); ok {
		includeUsage = so["include_usage"] == true
	}
	includeUsage = includeUsage && !f.noUsage
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	fl := w.(http.Flusher)
	usageField := ""
	if includeUsage {
		usageField = `,"usage":null`
	}
	words := []string{"one ", "two ", "three ", "four ", "five"}
	send := func(s string) bool {
		if f.step != nil {
			select {
			case <-f.step:
			case <-r.Context().Done():
				close(f.canceled)
				return false
			}
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", s); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	for _, word := range words {
		if !send(`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"` + word + `"},"finish_reason":null}]` + usageField + `}`) {
			return
		}
	}
	if !send(`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]` + usageField + `}`) {
		return
	}
	if includeUsage {
		if !send(`{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":5,"total_tokens":16}}`) {
			return
		}
	}
	send("[DONE]")
}

func (f *fakeUpstream) lastBody() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[len(f.bodies)-1]
}

func upstreamConfig(url string, extra string) string {
	return fmt.Sprintf(`
upstreams:
  - name: fake
    type: openai_compatible
    base_url: %s/v1
    api_key: upstream-secret
%s
deployments:
  - name: chat
    model: gpt-4o-mini
    upstreams: [{upstream: fake, deployment: real-model}]
`, url, extra)
}

func readSSE(t *testing.T, resp *http.Response) []string {
	t.Helper()
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data: ") {
			events = append(events, strings.TrimPrefix(line, "data: "))
		}
	}
	return events
}

func post(t *testing.T, ctx context.Context, url, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	req.Header.Set("api-key", "client-key")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestStreamUsageInjected: moat asks for usage the client did not, hides the
// extra chunk and the "usage":null members, and logs the upstream's counts.
func TestStreamUsageInjected(t *testing.T) {
	up := newFakeUpstream(t, false)
	ts := startServer(t, upstreamConfig(up.URL, ""))
	resp := post(t, context.Background(), ts.url+"/openai/v1/chat/completions",
		`{"model":"chat","stream":true,"messages":[{"role":"user","content":"count"}]}`)
	events := readSSE(t, resp)
	resp.Body.Close()
	if got := up.lastBody(); got["model"] != "real-model" || got["stream_options"].(map[string]any)["include_usage"] != true {
		t.Fatalf("upstream body %v", got)
	}
	if len(events) != 7 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("events %q", events)
	}
	for _, e := range events {
		if strings.Contains(e, "usage") {
			t.Fatalf("client saw usage it did not ask for: %s", e)
		}
	}
	rec := ts.records()[0]
	if rec.PromptTokens != 11 || rec.CompletionTokens != 5 || rec.TokensEstimated || !rec.Streamed {
		t.Fatalf("record %+v", rec)
	}
}

// TestStreamUsageRequested: a client that asks gets the upstream stream as is.
func TestStreamUsageRequested(t *testing.T) {
	up := newFakeUpstream(t, false)
	ts := startServer(t, upstreamConfig(up.URL, ""))
	resp := post(t, context.Background(), ts.url+"/v1/chat/completions",
		`{"model":"chat","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"count"}]}`)
	events := readSSE(t, resp)
	resp.Body.Close()
	if len(events) != 8 || !strings.Contains(events[6], `"usage":{"prompt_tokens":11`) || !strings.Contains(events[0], `"usage":null`) {
		t.Fatalf("events %q", events)
	}
}

// TestStreamUsageCountedOffline: with stream_usage off, moat counts tokens itself.
func TestStreamUsageCountedOffline(t *testing.T) {
	up := newFakeUpstream(t, false)
	ts := startServer(t, upstreamConfig(up.URL, "    stream_usage: false"))
	resp := post(t, context.Background(), ts.url+"/v1/chat/completions",
		`{"model":"chat","stream":true,"messages":[{"role":"user","content":"count to five"}]}`)
	events := readSSE(t, resp)
	resp.Body.Close()
	if _, ok := up.lastBody()["stream_options"]; ok {
		t.Fatal("stream_options injected despite stream_usage: false")
	}
	if len(events) != 7 {
		t.Fatalf("events %q", events)
	}
	rec := ts.records()[0]
	want := tokens.New().Count("gpt-4o-mini", "one two three four five")
	if !rec.TokensEstimated || rec.CompletionTokens != want || rec.PromptTokens == 0 {
		t.Fatalf("record %+v", rec)
	}
}

// TestStreamNotBuffered: each event reaches the client before the upstream
// sends the next one.
func TestStreamNotBuffered(t *testing.T) {
	up := newFakeUpstream(t, true)
	ts := startServer(t, upstreamConfig(up.URL, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() { up.step <- struct{}{} }() // the first event carries the response headers
	resp := post(t, ctx, ts.url+"/v1/chat/completions", `{"model":"chat","stream":true,"messages":[]}`)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		if i > 0 {
			up.step <- struct{}{} // release exactly one event
		}
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !strings.Contains(line, "chat.completion.chunk") {
			t.Fatalf("event %d: %q", i, line)
		}
		if _, err := br.ReadString('\n'); err != nil { // blank line ending the event
			t.Fatal(err)
		}
	}
	cancel()
}

// TestClientDisconnectCancelsUpstream: leaving mid-stream cancels the
// upstream call, and the tokens generated so far are still recorded.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	up := newFakeUpstream(t, true)
	ts := startServer(t, upstreamConfig(up.URL, "    stream_usage: false"))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { up.step <- struct{}{} }()
	resp := post(t, ctx, ts.url+"/v1/chat/completions", `{"model":"chat","stream":true,"messages":[{"role":"user","content":"go"}]}`)
	br := bufio.NewReader(resp.Body)
	for i := range 2 {
		if i > 0 {
			up.step <- struct{}{}
		}
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		_, _ = br.ReadString('\n')
	}
	cancel()
	resp.Body.Close()
	select {
	case <-up.canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("upstream call was not canceled")
	}
	rec := ts.records()[0]
	want := tokens.New().Count("gpt-4o-mini", "one two ") // the two chunks the client received
	if rec.ErrorKind != "client_canceled" || rec.CompletionTokens != want || !rec.TokensEstimated || rec.Status != 200 {
		t.Fatalf("record %+v", rec)
	}
}

// TestUpstreamCredentials: the client's credentials never reach the
// upstream; the upstream's own are set.
func TestUpstreamCredentials(t *testing.T) {
	up := newFakeUpstream(t, false)
	azure := fmt.Sprintf(`
upstreams:
  - name: aoai
    type: azure
    endpoint: %s
    api_key: azure-upstream-key
deployments:
  - name: chat
    upstreams: [{upstream: aoai, deployment: prod-chat}]
`, up.URL)
	ts := startServer(t, azure)
	var paths []string
	up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.String())
		up.serve(w, r)
	})
	status, _, body := do(t, "POST", ts.url+"/openai/v1/chat/completions", `{"model":"chat","messages":[]}`,
		"Authorization", "Bearer client-key", "X-Forwarded-For", "10.9.9.9")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	h := up.headers[0]
	if h.Get("Api-Key") != "azure-upstream-key" || h.Get("Authorization") != "" || h.Get("X-Forwarded-For") != "" {
		t.Fatalf("upstream headers %v", h)
	}
	if paths[0] != "/openai/deployments/prod-chat/chat/completions?api-version=2024-10-21" {
		t.Fatalf("upstream path %s", paths[0])
	}
	status, _, _ = do(t, "POST", ts.url+"/openai/deployments/chat/chat/completions?api-version=2024-06-01", `{"messages":[]}`, "api-key", "client-key")
	if status != 200 || paths[1] != "/openai/deployments/prod-chat/chat/completions?api-version=2024-06-01" {
		t.Fatalf("legacy api-version not passed through: %s", paths[1])
	}
	if h := up.headers[1]; h.Get("Api-Key") != "azure-upstream-key" {
		t.Fatalf("client key reached upstream: %v", h)
	}
}

// TestLegacyResponses: /openai/responses carries the deployment in "model"
// and goes to the upstream's v1 responses endpoint with the upstream's name.
func TestLegacyResponses(t *testing.T) {
	up := newFakeUpstream(t, false)
	var path string
	up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		up.serve(w, r)
	})
	ts := startServer(t, fmt.Sprintf(`
upstreams: [{name: aoai, type: azure, endpoint: '%s', api_key: k}]
deployments: [{name: chat, upstreams: [{upstream: aoai, deployment: prod-chat}]}]
`, up.URL))
	status, _, body := do(t, "POST", ts.url+"/openai/responses?api-version=2025-03-01-preview", `{"model":"chat","input":"hi"}`, "api-key", "k")
	if status != 200 || path != "/openai/v1/responses" || up.lastBody()["model"] != "prod-chat" {
		t.Fatalf("%d %s path=%s body=%v", status, body, path, up.lastBody())
	}
}
