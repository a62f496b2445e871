package upstream

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/openai"
)

func TestAnthropicURLAndBody(t *testing.T) {
	tests := []struct {
		name, typ, base, op, want string
	}{
		{"anthropic api", "anthropic", "https://api.anthropic.com", "messages", "https://api.anthropic.com/v1/messages"},
		{"foundry", "anthropic", "https://contoso.services.ai.azure.com/anthropic/", "messages", "https://contoso.services.ai.azure.com/anthropic/v1/messages"},
		{"count tokens", "anthropic", "https://api.anthropic.com", "count_tokens", "https://api.anthropic.com/v1/messages/count_tokens"},
		{"simulator takes foundry's path", "simulator", "http://127.0.0.1:7000", "messages", "http://127.0.0.1:7000/anthropic/v1/messages"},
		{"simulator still azure for chat", "simulator", "http://127.0.0.1:7000", "chat", "http://127.0.0.1:7000/openai/deployments/claude/chat/completions?api-version=2024-10-21"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := New(Options{Name: "c", Type: Type(tt.typ), BaseURL: tt.base, APIVersion: "2024-10-21", StreamUsage: true})
			if err != nil {
				t.Fatal(err)
			}
			c := Call{Operation: op(tt.op), Deployment: "claude", Stream: true}
			if got := tg.URL(c).String(); got != tt.want {
				t.Fatalf("URL = %s, want %s", got, tt.want)
			}
			if tt.op == "chat" {
				return
			}
			body, injected, err := tg.Body(c, []byte(`{"model":"my-claude","max_tokens":5,"stream":true,"messages":[]}`))
			if err != nil || injected {
				t.Fatalf("Body: injected %v, %v", injected, err)
			}
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil || m["model"] != "claude" || strings.Contains(string(body), "stream_options") {
				t.Fatalf("body %s", body)
			}
		})
	}
}

func TestAnthropicHeaders(t *testing.T) {
	tests := []struct {
		name      string
		auth      Authenticator
		clientVer string
		wantKey   string
		wantAuth  string
		wantVer   string
	}{
		{"key as x-api-key", anthropic{}.KeyAuth("up-key"), "", "up-key", "", AnthropicVersion},
		{"client's version kept", anthropic{}.KeyAuth("k"), "2099-01-01", "k", "", "2099-01-01"},
		{"entra token", BearerKey("tok"), "", "", "Bearer tok", AnthropicVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, _ := New(Options{Name: "c", Type: TypeAnthropic, BaseURL: "https://api.anthropic.com", Auth: tt.auth})
			r, _ := http.NewRequest("POST", "https://api.anthropic.com/v1/messages", nil)
			r.Header.Set("X-Api-Key", "moat-client-key")
			r.Header.Set("Api-Key", "moat-client-key")
			r.Header.Set("Authorization", "Bearer client-token")
			if tt.clientVer != "" {
				r.Header.Set("Anthropic-Version", tt.clientVer)
			}
			if err := tg.Authorize(context.Background(), r, Call{Operation: op("messages")}); err != nil {
				t.Fatal(err)
			}
			h := r.Header
			if h.Get("X-Api-Key") != tt.wantKey || h.Get("Authorization") != tt.wantAuth || h.Get("Api-Key") != "" || h.Get("Anthropic-Version") != tt.wantVer {
				t.Fatalf("headers %v", h)
			}
		})
	}
}

func TestNewAuth(t *testing.T) {
	tests := []struct {
		typ  Type
		key  string
		mode string
		want string // the header the key lands in, "" for none
	}{
		{TypeAzure, "k", "api_key", "Api-Key"},
		{TypeAnthropic, "k", "api_key", "X-Api-Key"},
		{TypeAnthropic, "k", "", "X-Api-Key"},
		{TypeOpenAI, "k", "", "Authorization"},
		{TypeOpenAICompatible, "", "", ""},
		{TypeSimulator, "k", "", ""},
	}
	for _, tt := range tests {
		a, err := NewAuth(tt.typ, AuthOptions{Key: tt.key, Mode: tt.mode})
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		if a != nil {
			_ = a.Authorize(context.Background(), h)
		}
		if (tt.want == "" && len(h) != 0) || (tt.want != "" && h.Get(tt.want) == "") {
			t.Errorf("%s %q: headers %v, want %s", tt.typ, tt.mode, h, tt.want)
		}
	}
	a, err := NewAuth(TypeAnthropic, AuthOptions{Mode: "client_secret", Entra: EntraOptions{TenantID: "t", ClientID: "c", ClientSecret: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	if ta, ok := a.(*TokenAuth); !ok || ta.scope != "https://ai.azure.com/.default" {
		t.Fatalf("anthropic entra auth %T %+v", a, a)
	}
}

// TestAnthropicStream reads the event sequence of a Messages stream: usage
// from message_start, then message_delta; the first token at the first
// content_block_delta; text from text, tool-input and thinking deltas.
func TestAnthropicStream(t *testing.T) {
	events := []struct {
		name, data string
		usage      *openai.Usage
		first      bool
		text       string
	}{
		{"message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":10,"output_tokens":1}}}`,
			&openai.Usage{PromptTokens: 35, CompletionTokens: 1, TotalTokens: 36}, false, ""},
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`, nil, false, ""},
		{"ping", `{"type": "ping"}`, nil, false, ""},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`, nil, true, "Hello"},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" world"}}`, nil, false, " world"},
		{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}`, nil, false, `{"a":`},
		{"content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"thinking_delta","thinking":"hm"}}`, nil, false, "hm"},
		{"content_block_stop", `{"type":"content_block_stop","index":0}`, nil, false, ""},
		{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}`,
			&openai.Usage{PromptTokens: 35, CompletionTokens: 15, TotalTokens: 50}, false, ""},
		{"", `{"type":"message_stop"}`, nil, false, ""},
	}
	for _, typ := range []Type{TypeAnthropic, TypeSimulator} {
		p := typ.Protocol()
		s := p.NewStream(Call{Operation: op("messages"), Stream: true}, false)
		if !s.ReportsUsage() {
			t.Fatalf("%s: a Messages stream always reports usage", typ)
		}
		for i, e := range events {
			ev := "event: " + e.name + "\ndata: " + e.data + "\n\n"
			got := s.Event([]byte(ev), []byte(e.name), []byte(e.data))
			if (got.Usage == nil) != (e.usage == nil) || (got.Usage != nil && *got.Usage != *e.usage) {
				t.Errorf("%s event %d %s: usage %+v, want %+v", typ, i, e.name, got.Usage, e.usage)
			}
			if got.FirstContent != e.first || got.Drop || got.Rewrite != nil {
				t.Errorf("%s event %d %s: %+v", typ, i, e.name, got)
			}
			if text := p.StreamText([]byte(e.name), []byte(e.data)); text != e.text {
				t.Errorf("%s event %d: text %q, want %q", typ, i, text, e.text)
			}
		}
	}
	// Without event: lines the type is read from the data.
	s := anthropic{}.NewStream(Call{Operation: op("messages")}, false)
	got := s.Event(nil, nil, []byte(`{"type":"message_delta","usage":{"input_tokens":3,"output_tokens":2}}`))
	if got.Usage == nil || got.Usage.TotalTokens != 5 {
		t.Fatalf("nameless message_delta: %+v", got)
	}
}

func FuzzAnthropicStream(f *testing.F) {
	f.Add([]byte("message_start"), []byte(`{"type":"message_start","message":{"usage":{"input_tokens":1}}}`))
	f.Add([]byte(""), []byte(`{"type":"content_block_delta","delta":{"text":"x"}}`))
	f.Add([]byte("message_delta"), []byte(`{"usage":null}`))
	f.Fuzz(func(t *testing.T, name, data []byte) {
		s := anthropic{}.NewStream(Call{}, false)
		e := s.Event(nil, name, data)
		if e.Usage != nil && e.Usage.TotalTokens != e.Usage.PromptTokens+e.Usage.CompletionTokens {
			t.Fatalf("inconsistent usage %+v", e.Usage)
		}
		_ = anthropic{}.StreamText(name, data)
		_, _ = anthropicAnswerUsage(op("messages"), data, true)
	})
}
