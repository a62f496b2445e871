package upstream

import (
	"net/http"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/openai"
)

// TestProtocolTable: every type has a protocol, named as config names it,
// with its provider name and API family.
func TestProtocolTable(t *testing.T) {
	tests := []struct {
		typ       Type
		provider  string
		openai    bool
		anthropic bool
		url       URLField
	}{
		{TypeAzure, "azure.ai.openai", true, false, URLEndpoint},
		{TypeOpenAI, "openai", true, false, URLBaseURL},
		{TypeOpenAICompatible, "openai", true, false, URLBaseURL},
		{TypeSimulator, "azure.ai.openai", true, true, URLNone},
		{TypeAnthropic, "anthropic", false, true, URLBaseURL},
	}
	if len(Types()) != len(tests) {
		t.Fatalf("Types() = %v; the table below is out of date", Types())
	}
	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			p, ok := Lookup(tt.typ)
			if !ok || p.Type() != tt.typ || tt.typ.Protocol() == nil {
				t.Fatalf("Lookup(%s) = %v, %v", tt.typ, p, ok)
			}
			if got := p.Provider(); got != tt.provider {
				t.Errorf("Provider() = %q, want %q", got, tt.provider)
			}
			if got := p.Serves(op("chat")); got != tt.openai {
				t.Errorf("Serves(chat) = %v", got)
			}
			if got := p.Serves(op("messages")); got != tt.anthropic {
				t.Errorf("Serves(messages) = %v", got)
			}
			if got := p.Spec().URL; got != tt.url {
				t.Errorf("Spec().URL = %q, want %q", got, tt.url)
			}
		})
	}
	if _, ok := Lookup("bedrock"); ok {
		t.Fatal("unknown type found")
	}
	if got := TypeList(); got != "azure, openai, openai_compatible, simulator or anthropic" {
		t.Fatalf("TypeList() = %q", got)
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name      string
		typ       Type
		header    map[string]string
		remaining int
		retry     time.Duration
	}{
		{"azure", TypeAzure, map[string]string{"X-Ratelimit-Remaining-Tokens": "900", "Retry-After-Ms": "1500", "Retry-After": "9"}, 900, 1500 * time.Millisecond},
		{"openai seconds", TypeOpenAI, map[string]string{"Retry-After": "3"}, -1, 3 * time.Second},
		{"openai none", TypeOpenAICompatible, nil, -1, 0},
		{"anthropic", TypeAnthropic, map[string]string{"Anthropic-Ratelimit-Tokens-Remaining": "4000", "Retry-After": "12"}, 4000, 12 * time.Second},
		{"anthropic input only", TypeAnthropic, map[string]string{"Anthropic-Ratelimit-Input-Tokens-Remaining": "70"}, 70, 0},
		{"anthropic on foundry", TypeAnthropic, map[string]string{"X-Ratelimit-Remaining-Tokens": "12"}, 12, 0},
		{"simulator anthropic headers", TypeSimulator, map[string]string{"Anthropic-Ratelimit-Tokens-Remaining": "5"}, 5, 0},
		{"negative ignored", TypeAnthropic, map[string]string{"Anthropic-Ratelimit-Tokens-Remaining": "-1", "Retry-After": "-2"}, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			l := tt.typ.Protocol().Limits(h)
			if l.RemainingTokens != tt.remaining || l.RetryAfter != tt.retry {
				t.Fatalf("Limits = %+v, want %d, %s", l, tt.remaining, tt.retry)
			}
		})
	}
}

func TestAnswerUsage(t *testing.T) {
	tests := []struct {
		name  string
		typ   Type
		op    string
		body  string
		whole bool
		want  openai.Usage
		ok    bool
	}{
		{"chat tail", TypeAzure, "chat", `{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`, false,
			openai.Usage{PromptTokens: 7, CompletionTokens: 3, TotalTokens: 10}, true},
		{"responses nested", TypeOpenAI, "responses", `{"response":{"usage":{"input_tokens":4,"output_tokens":2}},"x":1}`, true,
			openai.Usage{PromptTokens: 4, CompletionTokens: 2, TotalTokens: 6}, true},
		{"no usage", TypeOpenAI, "chat", `{"choices":[]}`, true, openai.Usage{}, false},
		{"message", TypeAnthropic, "messages",
			`{"id":"msg_1","type":"message","content":[{"type":"text","text":"\"usage\":{}"}],"usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":20,"output_tokens":7,"server_tool_use":{"web_search_requests":0}}}`,
			false, openai.Usage{PromptTokens: 35, CompletionTokens: 7, TotalTokens: 42}, true},
		{"message without cache members", TypeAnthropic, "messages", `{"usage":{"input_tokens":3,"output_tokens":1}}`, true,
			openai.Usage{PromptTokens: 3, CompletionTokens: 1, TotalTokens: 4}, true},
		{"count_tokens is free", TypeAnthropic, "count_tokens", `{"input_tokens":42}`, true, openai.Usage{}, true},
		{"anthropic error body", TypeAnthropic, "messages", `{"type":"error","error":{"type":"overloaded_error","message":"x"}}`, true, openai.Usage{}, false},
		{"simulator messages", TypeSimulator, "messages", `{"usage":{"input_tokens":3,"output_tokens":1}}`, true,
			openai.Usage{PromptTokens: 3, CompletionTokens: 1, TotalTokens: 4}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.typ.Protocol().AnswerUsage(op(tt.op), []byte(tt.body), tt.whole)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("AnswerUsage = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestScrubHeader(t *testing.T) {
	for _, typ := range Types() {
		h := http.Header{}
		for _, k := range []string{"Openai-Organization", "Openai-Project", "Anthropic-Organization-Id", "Request-Id", "X-Request-Id"} {
			h.Set(k, "v")
		}
		typ.Protocol().ScrubHeader(h)
		if h.Get("Request-Id") == "" || h.Get("X-Request-Id") == "" {
			t.Errorf("%s: scrubbed a request ID: %v", typ, h)
		}
		p := typ.Protocol()
		openaiGone := h.Get("Openai-Organization") == "" && h.Get("Openai-Project") == ""
		anthropicGone := h.Get("Anthropic-Organization-Id") == ""
		if p.Serves(op("chat")) != openaiGone || p.Serves(op("messages")) != anthropicGone {
			t.Errorf("%s: left %v", typ, h)
		}
	}
}
