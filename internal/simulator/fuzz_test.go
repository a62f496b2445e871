package simulator

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/openai"
)

// FuzzServeHTTP feeds arbitrary paths and bodies to the handler: it must not
// panic and must always answer JSON or a well-formed event stream.
func FuzzServeHTTP(f *testing.F) {
	seeds := []struct {
		method uint8
		target string
		body   string
	}{
		{1, chatPath, helloChat},
		{1, chatPath, withStream(helloChat, true)},
		{1, chatPath, `{"stream":true,"n":2,"max_tokens":3,"messages":[{"role":"user","content":"x"}]}`},
		{1, "/openai/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`},
		{1, "/v1/completions", `{"model":"instruct","prompt":["a",[1,2]],"stream":true,"stream_options":{"include_usage":true}}`},
		{1, embedPath, `{"input":["a","b"],"dimensions":4,"encoding_format":"base64"}`},
		{1, "/openai/v1/embeddings", `{"model":"text-embedding-3-small","input":[[1,2],[3]]}`},
		{1, "/openai/deployments/limited/chat/completions?api-version=2024-10-21", `{"messages":[{"role":"user","content":"x"}],"max_tokens":90}`},
		{0, "/openai/models?api-version=2024-10-21", ``},
		{0, "/v1/models", ``},
		{1, chatPath, `{"messages":`},
		{1, chatPath, `{"messages":null,"n":-1}`},
		{1, "/openai/deployments//chat/completions?api-version=2024-10-21", `{}`},
		{2, "/openai/v1/models?api-version=2024-10-21", `{}`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, []byte(s.body))
	}
	opts := testOptions(newClock())
	opts.Deployments = []Deployment{
		{Name: "gpt-4o-mini", Model: "gpt-4o-mini", Version: "2024-07-18"},
		{Name: "gpt-4o", Model: "gpt-4o"},
		{Name: "instruct", Model: "gpt-35-turbo-instruct", Kind: KindCompletions},
		{Name: "text-embedding-3-small", Model: "text-embedding-3-small", Kind: KindEmbeddings, EmbeddingDims: 8},
		{Name: "limited", Model: "gpt-4o-mini", TPM: 200, RPM: 5},
	}
	opts.Faults = Faults{ErrorRate: 0.05, RateLimitRate: 0.05}
	s := newServer(f, opts)
	methods := []string{"GET", "POST", "PUT", "DELETE"}
	f.Fuzz(func(t *testing.T, method uint8, target string, body []byte) {
		if !strings.HasPrefix(target, "/") {
			return
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		req := httptest.NewRequest(methods[int(method)%len(methods)], "/", bytes.NewReader(body))
		req.URL = u
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		res := rec.Body.Bytes()
		switch ct := rec.Header().Get("Content-Type"); ct {
		case "application/json":
			if !json.Valid(res) {
				t.Fatalf("%s %s: invalid JSON answer %q", req.Method, target, res)
			}
		case "text/event-stream; charset=utf-8":
			if _, anthropic := parseAnthropicRoute(u.Path); anthropic {
				checkAnthropicStream(t, res)
			} else {
				checkStream(t, res)
			}
		default:
			t.Fatalf("%s %s: status %d, Content-Type %q", req.Method, target, rec.Code, ct)
		}
		if rec.Header().Get("apim-request-id") == "" && rec.Header().Get("request-id") == "" {
			t.Fatal("no apim-request-id or request-id")
		}
	})
}

// checkStream checks an event stream: JSON data events ending with [DONE].
func checkStream(t *testing.T, body []byte) {
	t.Helper()
	last := ""
	for len(body) > 0 {
		n := openai.SplitEvent(body)
		if n < 0 {
			t.Fatalf("incomplete event %q", body)
		}
		ev := body[:n]
		body = body[n:]
		if !bytes.HasPrefix(ev, []byte("data: ")) {
			t.Fatalf("event without data: %q", ev)
		}
		_, data := openai.EventData(ev)
		last = string(data)
		if last != "[DONE]" && !json.Valid(data) {
			t.Fatalf("event with invalid JSON %q", data)
		}
	}
	if last != "[DONE]" {
		t.Fatalf("stream ended with %q, not [DONE]", last)
	}
}
