package simulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moat-gw/moat/internal/openai"
)

// FuzzAnthropicMessages feeds arbitrary bodies to the Messages API: the
// parser must not panic, and every answer must be Anthropic's error
// envelope or a message (whole, or a well-formed event stream ending with
// message_stop) whose output stays within max_tokens.
func FuzzAnthropicMessages(f *testing.F) {
	tools := `"tools":[{"name":"get_weather","input_schema":` + weatherSchema + `}]`
	for _, seed := range []string{
		`{"model":"claude-sonnet-4-6","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"claude-sonnet-4-6","max_tokens":20,"stream":true,"messages":[{"role":"user","content":"hi"}],"stop_sequences":["the"]}`,
		`{"model":"claude-sonnet-4-6","max_tokens":300,"stream":true,` + tools + `,"messages":[{"role":"user","content":"get weather"}]}`,
		`{"model":"claude-sonnet-4-6","max_tokens":9,` + tools + `,"tool_choice":{"type":"any"},"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral","ttl":"1h"}}]}]}`,
		`{"model":"claude-sonnet-4-6","max_tokens":20,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"get_weather","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}]}`,
		`{"model":"claude-sonnet-4-6","max_tokens":2000,"stream":true,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"think"}]}`,
		`{"model":"claude-sonnet-4-6","messages":[{"role":"user","content":"count me"}]}`,
		`{"model":"claude-sonnet-4-6","max_tokens":1,"cache_control":{"type":"ephemeral"},"messages":[{"role":"user","content":[{"type":"image","source":{}}]}]}`,
		`{"model":1}`, `[]`, `{"messages":[{"role":"system"}]}`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	opts := testOptions(newClock())
	opts.Deployments = append(opts.Deployments, Deployment{Name: "limited", Model: "claude-haiku-4-5", TPM: 500, RPM: 5})
	s := newServer(f, opts)
	f.Fuzz(func(t *testing.T, body []byte, count bool) {
		req, bad := parseMessages(body, count)
		if (req == nil) == (bad == nil) {
			t.Fatalf("parseMessages answered %v and %v", req, bad)
		}
		if req != nil && !count && req.maxTokens < 1 {
			t.Fatalf("max_tokens %d accepted", req.maxTokens)
		}
		path := messagesPath
		if count {
			path += "/count_tokens"
		}
		hr := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		hr.Header.Set("anthropic-version", "2023-06-01")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, hr)
		res := rec.Body.Bytes()
		switch ct := rec.Header().Get("Content-Type"); {
		case ct == "text/event-stream; charset=utf-8":
			checkAnthropicStream(t, res)
		case ct == "application/json" && rec.Code == http.StatusOK:
			var m struct {
				Type  string `json:"type"`
				Usage struct {
					OutputTokens int `json:"output_tokens"`
				} `json:"usage"`
				InputTokens *int `json:"input_tokens"`
			}
			if err := json.Unmarshal(res, &m); err != nil || (m.Type != "message" && m.InputTokens == nil) {
				t.Fatalf("200 answer %q", res)
			}
			if req != nil && m.Type == "message" && m.Usage.OutputTokens > req.maxTokens {
				t.Fatalf("output %d over max_tokens %d", m.Usage.OutputTokens, req.maxTokens)
			}
		case ct == "application/json":
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(res, &e); err != nil || e.Type != "error" || e.Error.Type == "" || e.Error.Message == "" {
				t.Fatalf("%d answer %q", rec.Code, res)
			}
		default:
			t.Fatalf("status %d, Content-Type %q", rec.Code, ct)
		}
	})
}

// checkAnthropicStream checks a Messages event stream: named events whose
// data is JSON of the same type, from message_start to message_stop.
func checkAnthropicStream(t *testing.T, body []byte) {
	t.Helper()
	var first, last string
	for len(body) > 0 {
		n := openai.SplitEvent(body)
		if n < 0 {
			t.Fatalf("incomplete event %q", body)
		}
		ev := body[:n]
		body = body[n:]
		name, rest, ok := bytes.Cut(ev, []byte("\n"))
		if !ok || !bytes.HasPrefix(name, []byte("event: ")) || !bytes.HasPrefix(rest, []byte("data: ")) {
			t.Fatalf("event without its event: line %q", ev)
		}
		var d struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(bytes.TrimSpace(rest[len("data: "):]), &d); err != nil || d.Type != string(name[len("event: "):]) {
			t.Fatalf("event %q", ev)
		}
		if first == "" {
			first = d.Type
		}
		last = d.Type
	}
	if first != "message_start" || last != "message_stop" {
		t.Fatalf("stream from %q to %q", first, last)
	}
}
