package simulator

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

const messagesPath = "/v1/messages"

// anthropicHeaders are what an Anthropic client sends.
var anthropicHeaders = []string{"x-api-key", "k", "anthropic-version", "2023-06-01"}

func callMessages(s http.Handler, body string, header ...string) (int, map[string]any, http.Header) {
	rec := call(s, http.MethodPost, messagesPath, body, append(append([]string{}, anthropicHeaders...), header...)...)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m, rec.Header()
}

func userMessage(text string) string {
	b, _ := json.Marshal(text)
	return `[{"role":"user","content":` + string(b) + `}]`
}

// TestAnthropicErrors checks Anthropic's error envelope, status and type
// for each kind of bad request, and that every answer has a request-id.
func TestAnthropicErrors(t *testing.T) {
	opts := testOptions(newClock())
	opts.APIKey = "k"
	s := newServer(t, opts)
	msgs := userMessage("hi")
	long := userMessage(strings.Repeat("word ", 210_000))
	tests := []struct {
		name    string
		path    string
		body    string
		header  []string
		status  int
		typ     string
		message string
	}{
		{"no key", messagesPath, `{}`, []string{"x-api-key", ""}, 401, "authentication_error", "x-api-key header is required"},
		{"wrong key", messagesPath, `{}`, []string{"x-api-key", "nope"}, 401, "authentication_error", "invalid x-api-key"},
		{"no version", messagesPath, `{}`, []string{"anthropic-version", ""}, 400, "invalid_request_error", "anthropic-version: header is required"},
		{"bad version", messagesPath, `{}`, []string{"anthropic-version", "latest"}, 400, "invalid_request_error", `anthropic-version: invalid version "latest"`},
		{"unknown path", "/anthropic/v1/complete", `{}`, nil, 404, "not_found_error", "Not Found"},
		{"not json", messagesPath, `{`, nil, 400, "invalid_request_error", "There was an issue with your request body: the body is not valid JSON."},
		{"missing max_tokens", messagesPath, `{"model":"claude-sonnet-4-6","messages":` + msgs + `}`, nil, 400, "invalid_request_error", "max_tokens: Field required"},
		{"missing everything", messagesPath, `{}`, nil, 400, "invalid_request_error", "model: Field required, messages: Field required, max_tokens: Field required"},
		{"zero max_tokens", messagesPath, `{"model":"claude-sonnet-4-6","max_tokens":0,"messages":` + msgs + `}`, nil, 400, "invalid_request_error", "max_tokens: Input should be greater than or equal to 1"},
		{"max_tokens above the model's", messagesPath, `{"model":"claude-sonnet-4-6","max_tokens":100000,"messages":` + msgs + `}`, nil, 400, "invalid_request_error",
			"max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-6"},
		{"unknown model", messagesPath, `{"model":"claude-x","max_tokens":5,"messages":` + msgs + `}`, nil, 404, "not_found_error", "model: claude-x"},
		{"gpt deployment", messagesPath, `{"model":"gpt-4o-mini","max_tokens":5,"messages":` + msgs + `}`, nil, 404, "not_found_error", "model: gpt-4o-mini"},
		{"system role", messagesPath, `{"model":"claude-sonnet-4-6","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, nil, 400, "invalid_request_error",
			"messages.0.role: Input should be 'user' or 'assistant'"},
		{"empty messages", messagesPath, `{"model":"claude-sonnet-4-6","max_tokens":5,"messages":[]}`, nil, 400, "invalid_request_error", "messages: at least one message is required"},
		{"temperature", messagesPath, `{"model":"claude-sonnet-4-6","max_tokens":5,"temperature":1.5,"messages":` + msgs + `}`, nil, 400, "invalid_request_error", "temperature: Input should be less than or equal to 1"},
		{"unknown block", messagesPath, `{"model":"claude-sonnet-4-6","max_tokens":5,"messages":[{"role":"user","content":[{"type":"video"}]}]}`, nil, 400, "invalid_request_error",
			"messages.0.content.0.type: Input tag 'video' found using 'type' does not match any of the expected tags: 'text', 'image', 'document', 'search_result', 'thinking', 'redacted_thinking', 'tool_use', 'tool_result', 'server_tool_use', 'web_search_tool_result'"},
		{"orphan tool_result", messagesPath, `{"model":"claude-sonnet-4-6","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"x"}]}]}`, nil, 400, "invalid_request_error",
			"messages.0.content: unexpected `tool_use_id` found in `tool_result` blocks: toolu_1. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."},
		{"unanswered tool_use", messagesPath, `{"model":"claude-sonnet-4-6","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]},{"role":"user","content":"b"}]}`, nil, 400, "invalid_request_error",
			"messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each `tool_use` block must have a corresponding `tool_result` block in the next message."},
		{"tool_choice names no tool", messagesPath, `{"model":"claude-sonnet-4-6","max_tokens":5,"tool_choice":{"type":"tool","name":"f"},"messages":` + msgs + `}`, nil, 400, "invalid_request_error",
			"tool_choice: Tool 'f' not found in provided tools"},
		{"bad tool name", messagesPath, `{"model":"claude-sonnet-4-6","max_tokens":5,"tools":[{"name":"a b","input_schema":{"type":"object"}}],"messages":` + msgs + `}`, nil, 400, "invalid_request_error",
			"tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"},
		{"thinking over max_tokens", messagesPath, `{"model":"claude-sonnet-4-6","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":4000},"messages":` + msgs + `}`, nil, 400, "invalid_request_error",
			"`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"},
		{"five cache breakpoints", messagesPath, `{"model":"claude-sonnet-4-6","max_tokens":5,"messages":[{"role":"user","content":[` +
			strings.Repeat(`{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},`, 4) + `{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}]}]}`, nil, 400, "invalid_request_error",
			"A maximum of 4 blocks with cache_control may be provided. Found 5."},
		{"prompt too long", messagesPath, `{"model":"claude-sonnet-4-6","max_tokens":5,"messages":` + long + `}`, nil, 400, "invalid_request_error", "prompt is too long: 210004 tokens > 200000 maximum"},
		{"count_tokens needs no max_tokens but a model", messagesPath + "/count_tokens", `{"messages":` + msgs + `}`, nil, 400, "invalid_request_error", "model: Field required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := append(append([]string{}, anthropicHeaders...), tt.header...)
			rec := call(s, http.MethodPost, tt.path, tt.body, h...)
			var got struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
			}
			if rec.Code != tt.status || got.Type != "error" || got.Error.Type != tt.typ || got.Error.Message != tt.message {
				t.Errorf("got %d %s/%q\nwant %d %s/%q", rec.Code, got.Error.Type, got.Error.Message, tt.status, tt.typ, tt.message)
			}
			if id := rec.Header().Get("request-id"); !strings.HasPrefix(id, "req_011C") || got.RequestID != id {
				t.Errorf("request-id header %q, body %q", id, got.RequestID)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("content-type %q", ct)
			}
		})
	}
}

// sseEvent is one parsed event of a stream.
type sseEvent struct {
	name string
	data map[string]any
}

func readEvents(t *testing.T, body string) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.data); err != nil {
				t.Fatalf("data %q: %v", line, err)
			}
		case line == "":
			if cur.name == "" || cur.data["type"] != cur.name {
				t.Fatalf("event %q carries type %v", cur.name, cur.data["type"])
			}
			out = append(out, cur)
			cur = sseEvent{}
		}
	}
	return out
}

// TestAnthropicStreamWire checks the exact event sequence of streamed
// answers: text, tool use after a sentence, and thinking.
func TestAnthropicStreamWire(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	tools := `"tools":[{"name":"get_weather","input_schema":` + weatherSchema + `}]`
	tests := []struct {
		name   string
		body   string
		events string // event names, runs of deltas collapsed
		stop   string
	}{
		{"text", `{"model":"claude-sonnet-4-6","max_tokens":100,"stream":true,"messages":` + userMessage("hi") + `}`,
			"message_start content_block_start ping content_block_delta content_block_stop message_delta message_stop", "end_turn"},
		{"tool use after a sentence", `{"model":"claude-sonnet-4-6","max_tokens":300,"stream":true,` + tools + `,"messages":` + userMessage("get weather in Oslo") + `}`,
			"message_start content_block_start ping content_block_delta content_block_stop content_block_start content_block_delta content_block_stop message_delta message_stop", "tool_use"},
		{"thinking", `{"model":"claude-sonnet-4-6","max_tokens":3000,"stream":true,"thinking":{"type":"enabled","budget_tokens":1024},"messages":` + userMessage("think") + `}`,
			"message_start content_block_start ping content_block_delta content_block_stop content_block_start content_block_delta content_block_stop message_delta message_stop", "end_turn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := call(s, http.MethodPost, messagesPath, tt.body, anthropicHeaders...)
			if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/event-stream; charset=utf-8" {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			events := readEvents(t, rec.Body.String())
			var names []string
			for _, e := range events {
				if len(names) == 0 || names[len(names)-1] != e.name || e.name != "content_block_delta" {
					names = append(names, e.name)
				}
			}
			if got := strings.Join(names, " "); got != tt.events {
				t.Errorf("events\n got %s\nwant %s", got, tt.events)
			}
			start := events[0].data["message"].(map[string]any)
			if start["stop_reason"] != nil || len(start["content"].([]any)) != 0 || start["usage"].(map[string]any)["input_tokens"].(float64) == 0 {
				t.Errorf("message_start %v", start)
			}
			md := events[len(events)-2].data
			if md["delta"].(map[string]any)["stop_reason"] != tt.stop || md["usage"].(map[string]any)["output_tokens"].(float64) == 0 {
				t.Errorf("message_delta %v", md)
			}
			// The plain answer has the same blocks.
			plain := call(s, http.MethodPost, messagesPath, strings.Replace(tt.body, `"stream":true`, `"stream":false`, 1), anthropicHeaders...)
			var m struct {
				Content []struct {
					Type string `json:"type"`
				} `json:"content"`
				StopReason string `json:"stop_reason"`
			}
			_ = json.Unmarshal(plain.Body.Bytes(), &m)
			var blocks []string
			for _, e := range events {
				if e.name == "content_block_start" {
					blocks = append(blocks, e.data["content_block"].(map[string]any)["type"].(string))
				}
			}
			var plainBlocks []string
			for _, c := range m.Content {
				plainBlocks = append(plainBlocks, c.Type)
			}
			if fmt.Sprint(blocks) != fmt.Sprint(plainBlocks) || m.StopReason != tt.stop {
				t.Errorf("streamed blocks %v, plain %v (%s)", blocks, plainBlocks, m.StopReason)
			}
		})
	}
}

// TestAnthropicShaping covers what shapes an answer: stop sequences,
// max_tokens, tool_choice, system prompts and assistant prefill.
func TestAnthropicShaping(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	tools := `"tools":[{"name":"get_weather","input_schema":` + weatherSchema + `},{"name":"search_docs","input_schema":{"type":"object","properties":{"q":{"type":"string"}}}}]`
	base := `{"model":"claude-sonnet-4-6","max_tokens":200,"messages":` + userMessage("Tell me something") + `}`
	code, m, _ := callMessages(s, base)
	if code != 200 {
		t.Fatal(m)
	}
	text := m["content"].([]any)[0].(map[string]any)["text"].(string)
	words := strings.Fields(text)
	stop := words[3]

	type blocks []string
	tests := []struct {
		name   string
		body   string
		stop   string
		blocks blocks
		check  func(t *testing.T, m map[string]any)
	}{
		{"stop sequence", strings.Replace(base, `"max_tokens":200`, `"max_tokens":200,"stop_sequences":["`+stop+`"]`, 1), "stop_sequence", blocks{"text"},
			func(t *testing.T, m map[string]any) {
				got := m["content"].([]any)[0].(map[string]any)["text"].(string)
				if m["stop_sequence"] != stop || strings.Contains(got, stop) || !strings.HasPrefix(text, got) {
					t.Errorf("stop_sequence %v, text %q", m["stop_sequence"], got)
				}
			}},
		{"max_tokens", strings.Replace(base, `"max_tokens":200`, `"max_tokens":3`, 1), "max_tokens", blocks{"text"},
			func(t *testing.T, m map[string]any) {
				if u := m["usage"].(map[string]any); u["output_tokens"].(float64) > 3 || m["stop_sequence"] != nil {
					t.Errorf("usage %v", u)
				}
			}},
		{"system string", strings.Replace(base, `"max_tokens":200`, `"max_tokens":200,"system":"Be brief."`, 1), "end_turn", blocks{"text"}, nil},
		{"system blocks", strings.Replace(base, `"max_tokens":200`, `"max_tokens":200,"system":[{"type":"text","text":"Be brief."}]`, 1), "end_turn", blocks{"text"}, nil},
		{"tool_choice auto calls the named tools after a sentence", `{"model":"claude-sonnet-4-6","max_tokens":500,` + tools + `,"messages":` + userMessage("use get_weather and search docs") + `}`,
			"tool_use", blocks{"text", "tool_use", "tool_use"}, nil},
		{"disable_parallel_tool_use", `{"model":"claude-sonnet-4-6","max_tokens":500,` + tools + `,"tool_choice":{"type":"auto","disable_parallel_tool_use":true},"messages":` + userMessage("use get_weather and search docs") + `}`,
			"tool_use", blocks{"text", "tool_use"}, nil},
		{"tool_choice any calls at once", `{"model":"claude-sonnet-4-6","max_tokens":500,` + tools + `,"tool_choice":{"type":"any"},"messages":` + userMessage("search docs") + `}`,
			"tool_use", blocks{"tool_use"}, func(t *testing.T, m map[string]any) {
				if name := m["content"].([]any)[0].(map[string]any)["name"]; name != "search_docs" {
					t.Errorf("called %v", name)
				}
			}},
		{"tool_choice none", `{"model":"claude-sonnet-4-6","max_tokens":500,` + tools + `,"tool_choice":{"type":"none"},"messages":` + userMessage("get weather") + `}`,
			"end_turn", blocks{"text"}, nil},
		{"text after tool results", `{"model":"claude-sonnet-4-6","max_tokens":500,` + tools + `,"messages":[{"role":"user","content":"get weather"},` +
			`{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"location":"Oslo","unit":"celsius"}}]},` +
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"12C"}]}]}]}`,
			"end_turn", blocks{"text"}, nil},
		{"prefill", `{"model":"claude-sonnet-4-6","max_tokens":200,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"Sure,"}]}`,
			"end_turn", blocks{"text"}, nil},
		{"thinking first", `{"model":"claude-sonnet-4-6","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1024},"messages":` + userMessage("hi") + `}`,
			"end_turn", blocks{"thinking", "text"}, func(t *testing.T, m map[string]any) {
				b := m["content"].([]any)[0].(map[string]any)
				if b["thinking"] == "" || b["signature"] == "" {
					t.Errorf("thinking block %v", b)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, m, _ := callMessages(s, tt.body)
			if code != 200 {
				t.Fatalf("%d %v", code, m)
			}
			var got blocks
			for _, b := range m["content"].([]any) {
				got = append(got, b.(map[string]any)["type"].(string))
			}
			if m["stop_reason"] != tt.stop || fmt.Sprint(got) != fmt.Sprint(tt.blocks) {
				t.Errorf("stop %v blocks %v, want %s %v", m["stop_reason"], got, tt.stop, tt.blocks)
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

// TestAnthropicPromptCache follows the documented cache rule through a
// conversation: written once, read after, expired after its TTL, and
// nothing for a prefix under the minimum.
func TestAnthropicPromptCache(t *testing.T) {
	c := newClock()
	s := newServer(t, testOptions(c))
	system := strings.Repeat("policy ", 1500)
	body := func(ttl, user string) string {
		cc := `{"type":"ephemeral"}`
		if ttl != "" {
			cc = `{"type":"ephemeral","ttl":"` + ttl + `"}`
		}
		return `{"model":"claude-sonnet-4-6","max_tokens":20,"system":[{"type":"text","text":"` + system + `","cache_control":` + cc + `}],"messages":` + userMessage(user) + `}`
	}
	usage := func(b string) (in, write, read, w5, w1 int) {
		t.Helper()
		code, m, _ := callMessages(s, b)
		if code != 200 {
			t.Fatalf("%d %v", code, m)
		}
		u := m["usage"].(map[string]any)
		cc := u["cache_creation"].(map[string]any)
		return int(u["input_tokens"].(float64)), int(u["cache_creation_input_tokens"].(float64)), int(u["cache_read_input_tokens"].(float64)),
			int(cc["ephemeral_5m_input_tokens"].(float64)), int(cc["ephemeral_1h_input_tokens"].(float64))
	}
	sysTokens := sharedCounter().Count("claude-sonnet-4-6", system)

	in, write, read, w5, _ := usage(body("", "first question"))
	if write != sysTokens || read != 0 || w5 != write || in == 0 {
		t.Fatalf("first: in %d write %d read %d (system %d)", in, write, read, sysTokens)
	}
	in2, write, read, _, _ := usage(body("", "second question"))
	if write != 0 || read != sysTokens || in2 != in {
		t.Fatalf("second: in %d write %d read %d", in2, write, read)
	}
	c.advance(6 * time.Minute)
	_, write, read, _, _ = usage(body("", "after the TTL"))
	if write != sysTokens || read != 0 {
		t.Fatalf("expired: write %d read %d", write, read)
	}
	_, write, _, _, w1 := usage(strings.Replace(body("1h", "hour"), "policy", "rules", -1))
	if w1 != write || write == 0 {
		t.Fatalf("1h ttl: write %d, 1h %d", write, w1)
	}
	short := `{"model":"claude-sonnet-4-6","max_tokens":20,"system":[{"type":"text","text":"short","cache_control":{"type":"ephemeral"}}],"messages":` + userMessage("q") + `}`
	if _, write, read, _, _ := usage(short); write != 0 || read != 0 {
		t.Fatalf("under the minimum: write %d read %d", write, read)
	}
	auto := `{"model":"claude-sonnet-4-6","max_tokens":20,"cache_control":{"type":"ephemeral"},"system":"` + strings.Repeat("guide ", 1500) + `","messages":` + userMessage("q") + `}`
	if _, write, _, _, _ := usage(auto); write == 0 {
		t.Fatal("top-level cache_control wrote nothing")
	}
	if _, write, read, _, _ := usage(auto); write != 0 || read == 0 {
		t.Fatalf("top-level cache_control: write %d read %d", write, read)
	}
}

// TestAnthropicRateLimit checks Anthropic's 429 and rate-limit headers.
func TestAnthropicRateLimit(t *testing.T) {
	opts := testOptions(newClock())
	for i := range opts.Deployments {
		opts.Deployments[i].RPM = 1
	}
	s := newServer(t, opts)
	body := `{"model":"claude-sonnet-4-6","max_tokens":20,"messages":` + userMessage("hi") + `}`
	code, _, h := callMessages(s, body)
	if code != 200 || h.Get("anthropic-ratelimit-requests-limit") != "1" || h.Get("anthropic-ratelimit-requests-remaining") != "0" {
		t.Fatalf("first: %d %v", code, h)
	}
	code, m, h := callMessages(s, body)
	if code != 429 || m["error"].(map[string]any)["type"] != "rate_limit_error" || h.Get("retry-after") == "" {
		t.Fatalf("second: %d %v %v", code, m, h)
	}
}

// TestAnthropicFoundryHeaders checks that Foundry's path also carries
// Azure's headers, and that GPT deployments stay off the Messages API and
// Claude deployments off the OpenAI surfaces.
func TestAnthropicFoundryHeaders(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	rec := call(s, http.MethodPost, "/anthropic/v1/messages", `{"model":"claude-sonnet-4-6","max_tokens":5,"messages":`+userMessage("hi")+`}`,
		"api-key", "k", "anthropic-version", "2023-06-01")
	if rec.Code != 200 || rec.Header().Get("apim-request-id") == "" || rec.Header().Get("request-id") == "" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	rec = call(s, http.MethodPost, "/openai/v1/chat/completions", `{"model":"claude-sonnet-4-6","messages":[{"role":"user","content":"hi"}]}`)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "OperationNotSupported") {
		t.Fatalf("chat on a Claude deployment: %d %s", rec.Code, rec.Body)
	}
}

func TestKindOf(t *testing.T) {
	for model, want := range map[string]Kind{
		"claude-sonnet-4-6": KindMessages, "Claude-Opus-4-1": KindMessages, "gpt-4o": KindChat,
		"text-embedding-3-large": KindEmbeddings, "dall-e-3": KindImages, "gpt-35-turbo-instruct": KindCompletions,
	} {
		if got := KindOf(model); got != want {
			t.Errorf("KindOf(%q) = %s, want %s", model, got, want)
		}
	}
}
