package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/openai"
)

// firstChunk is the wire reference's §1.9 first event, verbatim.
const firstChunk = `data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}}]}` + "\n\n"

// events splits an SSE body into its events (each with its terminator).
func events(t *testing.T, body []byte) []string {
	t.Helper()
	var out []string
	for len(body) > 0 {
		n := openai.SplitEvent(body)
		if n < 0 {
			t.Fatalf("incomplete trailing event %q", body)
		}
		out = append(out, string(body[:n]))
		body = body[n:]
	}
	return out
}

func withStream(body string, includeUsage bool) string {
	extra := `"stream":true,`
	if includeUsage {
		extra += `"stream_options":{"include_usage":true},`
	}
	return "{" + extra + body[1:]
}

func TestStreamGolden(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		body   string
	}{
		{name: "chat with usage", golden: "chat_stream_usage.txt", body: withStream(`{"max_tokens":6,"messages":[{"role":"user","content":"hi"}]}`, true)},
		{name: "chat without usage", golden: "chat_stream.txt", body: withStream(`{"max_tokens":6,"messages":[{"role":"user","content":"hi"}]}`, false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, testOptions(newClock()))
			rec := call(s, "POST", chatPath, tt.body)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d: %s", rec.Code, rec.Body)
			}
			golden(t, tt.golden, rec.Body.Bytes())
		})
	}
}

func TestStream(t *testing.T) {
	opts := testOptions(newClock())
	opts.Deployments = append(opts.Deployments, Deployment{Name: "instruct", Model: "gpt-35-turbo-instruct", Kind: KindCompletions})
	const instructPath = "/openai/deployments/instruct/completions?api-version=2024-10-21"
	tests := []struct {
		name         string
		path         string
		body         string
		chat         bool
		includeUsage bool
	}{
		{name: "chat", path: chatPath, body: helloChat, chat: true},
		{name: "chat include_usage", path: chatPath, body: helloChat, chat: true, includeUsage: true},
		{name: "chat n=2 capped", path: "/openai/v1/chat/completions", body: `{"model":"gpt-4o","n":2,"max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`, chat: true, includeUsage: true},
		{name: "completions", path: instructPath, body: `{"prompt":"Once"}`},
		{name: "completions include_usage", path: instructPath, body: `{"prompt":"Once"}`, includeUsage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain := call(newServer(t, opts), "POST", tt.path, tt.body)
			if plain.Code != http.StatusOK {
				t.Fatalf("plain status = %d: %s", plain.Code, plain.Body)
			}
			want := decodeChat(t, plain.Body.Bytes())

			s := newServer(t, opts)
			rec := call(s, "POST", tt.path, withStream(tt.body, tt.includeUsage))
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d: %s", rec.Code, rec.Body)
			}
			wantHeaders := map[string]string{
				"Content-Type":      "text/event-stream; charset=utf-8",
				"X-Accel-Buffering": "no",
				"Cache-Control":     "no-cache, must-revalidate",
			}
			for k, v := range wantHeaders {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			evs := events(t, rec.Body.Bytes())
			if len(evs) < 4 {
				t.Fatalf("only %d events", len(evs))
			}
			if evs[0] != firstChunk {
				t.Errorf("first event:\n got %q\nwant %q", evs[0], firstChunk)
			}
			if evs[len(evs)-1] != "data: [DONE]\n\n" {
				t.Errorf("last event = %q", evs[len(evs)-1])
			}
			texts := make([]string, len(want.Choices))
			var usage *openai.Usage
			usageChunks := 0
			for i, ev := range evs[1 : len(evs)-1] {
				_, data := openai.EventData([]byte(ev))
				var c struct {
					Choices []struct {
						Index        int             `json:"index"`
						FinishReason json.RawMessage `json:"finish_reason"`
						Text         string          `json:"text"`
						Delta        struct {
							Content *string `json:"content"`
							Role    string  `json:"role"`
						} `json:"delta"`
					} `json:"choices"`
					ID    string          `json:"id"`
					Usage json.RawMessage `json:"usage"`
				}
				if err := json.Unmarshal(data, &c); err != nil {
					t.Fatalf("event %d: %v: %s", i+1, err, data)
				}
				if c.ID == "" || (tt.chat && !strings.HasPrefix(c.ID, "chatcmpl-")) {
					t.Errorf("event %d: id %q", i+1, c.ID)
				}
				hasUsageKey := bytes.Contains(data, []byte(`"usage":`))
				if hasUsageKey != tt.includeUsage {
					t.Errorf("event %d: usage key present = %v: %s", i+1, hasUsageKey, data)
				}
				if len(c.Choices) == 0 {
					usageChunks++
					if i+2 != len(evs)-1 {
						t.Errorf("usage chunk is not the last before [DONE]")
					}
					u, ok := openai.UsageFromBody(data)
					if !ok {
						t.Fatalf("usage chunk without usage: %s", data)
					}
					usage = &u
					continue
				}
				if tt.includeUsage && string(c.Usage) != "null" {
					t.Errorf("event %d: usage = %s, want null", i+1, c.Usage)
				}
				if i == 0 && tt.chat && (c.Choices[0].Delta.Role != "assistant" || c.Choices[0].Delta.Content == nil || *c.Choices[0].Delta.Content != "") {
					t.Errorf("second event is not the role chunk: %s", data)
				}
				for _, ch := range c.Choices {
					texts[ch.Index] += ch.Text
					if ch.Delta.Content != nil {
						texts[ch.Index] += *ch.Delta.Content
					}
					if string(ch.FinishReason) != "null" && string(ch.FinishReason) != `"`+want.Choices[ch.Index].FinishReason+`"` {
						t.Errorf("finish_reason %s, want %q", ch.FinishReason, want.Choices[ch.Index].FinishReason)
					}
				}
			}
			for i, c := range want.Choices {
				wantText := c.Message.Content + c.Text
				if texts[i] != wantText {
					t.Errorf("choice %d streamed %q, plain %q", i, texts[i], wantText)
				}
			}
			if tt.includeUsage {
				if usageChunks != 1 || usage == nil {
					t.Fatalf("%d usage chunks", usageChunks)
				}
				if diff := cmp.Diff(want.Usage, *usage); diff != "" {
					t.Errorf("streamed usage differs from plain (-plain +stream):\n%s", diff)
				}
			} else if usageChunks != 0 {
				t.Errorf("%d usage chunks without include_usage", usageChunks)
			}
			if st := s.Stats(); st.CompletionTokens != int64(want.Usage.CompletionTokens) || st.Canceled != 0 {
				t.Errorf("stats = %+v, want %d completion tokens", st, want.Usage.CompletionTokens)
			}
		})
	}
}

// TestStreamPacing checks that the latency model drives the waits: one
// time-to-first-token wait, then one per token.
func TestStreamPacing(t *testing.T) {
	var mu sync.Mutex
	var waits []time.Duration
	opts := testOptions(newClock())
	opts.Latency = Latency{TimeToFirstToken: 300 * time.Millisecond, TokensPerSecond: 50}
	opts.Sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return ctx.Err()
	}
	s := newServer(t, opts)
	rec := call(s, "POST", chatPath, withStream(`{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, false))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	want := []time.Duration{300 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}
	if diff := cmp.Diff(want, waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}

	waits = nil
	if rec := call(s, "POST", chatPath, `{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`); rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	if diff := cmp.Diff([]time.Duration{380 * time.Millisecond}, waits); diff != "" {
		t.Errorf("plain waits (-want +got):\n%s", diff)
	}
}

// TestStreamCancel checks that generation stops when the client goes away.
func TestStreamCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := 0
	opts := testOptions(newClock())
	opts.Latency = Latency{TimeToFirstToken: time.Second, TokensPerSecond: 10}
	opts.Sleep = func(ctx context.Context, d time.Duration) error {
		calls++
		if calls == 3 { // TTFT, then two tokens: the client hangs up
			cancel()
		}
		return ctx.Err()
	}
	s := newServer(t, opts)
	req := httptest.NewRequestWithContext(ctx, "POST", chatPath, strings.NewReader(withStream(helloChat, false)))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	evs := events(t, rec.Body.Bytes())
	// first chunk, role chunk, two content chunks
	if len(evs) != 4 {
		t.Errorf("%d events after cancel, want 4:\n%s", len(evs), rec.Body)
	}
	if strings.Contains(rec.Body.String(), "[DONE]") {
		t.Error("canceled stream ended with [DONE]")
	}
	if st := s.Stats(); st.Canceled != 1 || st.CompletionTokens != 2 {
		t.Errorf("stats = %+v", st)
	}
}

// TestStreamCancelReal cancels a real HTTP client mid-stream; the handler
// must return promptly instead of generating into the void.
func TestStreamCancelReal(t *testing.T) {
	opts := testOptions(newClock())
	opts.Latency = Latency{TokensPerSecond: 1}
	opts.Sleep = sleep // real timer: the test cancels during the first wait
	s := newServer(t, opts)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		s.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+chatPath, strings.NewReader(withStream(helloChat, false)))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(firstChunk))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != firstChunk {
		t.Fatalf("first chunk %q: %v", buf, err)
	}
	cancel()
	resp.Body.Close()
	<-done
	if st := s.Stats(); st.Canceled != 1 {
		t.Errorf("stats = %+v", st)
	}
}
