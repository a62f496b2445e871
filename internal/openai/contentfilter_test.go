package openai

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPromptFilteredError(t *testing.T) {
	b := PromptFilteredError("card")
	var e struct {
		Error struct {
			Code       string `json:"code"`
			Param      string `json:"param"`
			Status     int    `json:"status"`
			InnerError struct {
				Code   string                     `json:"code"`
				Result map[string]json.RawMessage `json:"content_filter_result"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if e.Error.Code != "content_filter" || e.Error.Param != "prompt" || e.Error.Status != 400 || e.Error.InnerError.Code != "ResponsibleAIPolicyViolation" {
		t.Errorf("envelope: %s", b)
	}
	if got := string(e.Error.InnerError.Result["custom_blocklists"]); got != `[{"filtered":true,"id":"card"}]` {
		t.Errorf("custom_blocklists = %s", got)
	}
	for _, c := range []string{"hate", "jailbreak", "self_harm", "sexual", "violence"} {
		if _, ok := e.Error.InnerError.Result[c]; !ok {
			t.Errorf("no %s category: %s", c, b)
		}
	}
}

func TestFilteredCompletion(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		err      bool
	}{
		{name: "chat", in: `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"4111111111111111","tool_calls":[]},"finish_reason":"stop"}],"usage":{"total_tokens":3}}`,
			want: []string{`"finish_reason":"content_filter"`, `"content":null`, `"role":"assistant"`, `"usage":{"total_tokens":3}`, `"custom_blocklists":[{"filtered":true,"id":"card"}]`}},
		{name: "legacy", in: `{"object":"text_completion","choices":[{"index":0,"text":"secret","finish_reason":"stop"}]}`,
			want: []string{`"text":""`, `"finish_reason":"content_filter"`}},
		{name: "no choices", in: `{"object":"response","output":[]}`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := FilteredCompletion([]byte(tt.in), "card")
			if (err != nil) != tt.err {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("%s lacks %s", out, w)
				}
			}
			if strings.Contains(string(out), "4111") || strings.Contains(string(out), "secret") {
				t.Errorf("text kept: %s", out)
			}
		})
	}
}

func TestFilteredChunk(t *testing.T) {
	got := string(FilteredChunk([]byte(`{"id":"c1","object":"chat.completion.chunk","created":5,"model":"m","choices":[]}`), "card"))
	want := `data: {"id":"c1","object":"chat.completion.chunk","created":5,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"content_filter","content_filter_results":{"custom_blocklists":[{"filtered":true,"id":"card"}]}}]}` + "\n\ndata: [DONE]\n\n"
	if got != want {
		t.Errorf("FilteredChunk =\n%s\nwant\n%s", got, want)
	}
}
