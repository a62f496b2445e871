package upstream

import "testing"

func TestHasUsageObject(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"choices":[],"usage":{"prompt_tokens":1}}`, true},
		{`{"choices": [], "usage": {"prompt_tokens": 1}}`, true},
		{`{"choices":[],"usage":null}`, false},
		{`{"choices": [], "usage": null}`, false},
		{`{"choices":[{"delta":{"content":"the \"usage\":{ of words"}}]}`, false},
		{`{"text":"\"usage\""}`, false},
		{``, false},
	}
	for _, tt := range tests {
		if got := hasUsageObject([]byte(tt.in)); got != tt.want {
			t.Errorf("%s: %v", tt.in, got)
		}
	}
}

func TestCarriesContent(t *testing.T) {
	tests := []struct {
		name, data string
		want       bool
	}{
		{"", `{"choices":[],"prompt_filter_results":[{"prompt_index":0}]}`, false},
		{"", `{"choices":[{"delta":{"content":"","refusal":null,"role":"assistant"}}]}`, false},
		{"", `{"choices":[{"delta":{"content":"Hi"}}]}`, true},
		{"", `{"choices": [{"delta": {"content": " there"}}]}`, true},
		{"", `{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\""}}]}}]}`, true},
		{"", `{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"arguments":"","name":"f"}}]}}]}`, false},
		{"", `{"choices":[{"text":" word","index":0}],"object":"text_completion"}`, true},
		{"", `{"choices":[],"usage":{"prompt_tokens":3}}`, false},
		{"response.created", `{"type":"response.created","response":{}}`, false},
		{"response.output_text.delta", `{"type":"response.output_text.delta","delta":"Hi"}`, true},
		{"", `{"type":"response.function_call_arguments.delta","delta":"{"}`, true},
		{"", `[DONE]`, false},
	}
	for _, tt := range tests {
		if got := carriesContent([]byte(tt.name), []byte(tt.data)); got != tt.want {
			t.Errorf("%s %s: %v, want %v", tt.name, tt.data, got, tt.want)
		}
	}
}
