package openai

import "testing"

func TestUsageDetails(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Usage
	}{
		{"chat", `{"usage":{"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,
			"prompt_tokens_details":{"cached_tokens":64,"audio_tokens":0},
			"completion_tokens_details":{"reasoning_tokens":20,"audio_tokens":5}}}`,
			Usage{PromptTokens: 100, CompletionTokens: 50, TotalTokens: 150, CachedTokens: 64, ReasoningTokens: 20, AudioCompletionTokens: 5}},
		{"responses", `{"response":{"usage":{"input_tokens":10,"output_tokens":7,"total_tokens":17,
			"input_tokens_details":{"cached_tokens":3},"output_tokens_details":{"reasoning_tokens":4}}}}`,
			Usage{PromptTokens: 10, CompletionTokens: 7, TotalTokens: 17, CachedTokens: 3, ReasoningTokens: 4}},
		{"no details", `{"usage":{"prompt_tokens":1,"completion_tokens":2}}`, Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := UsageFromBody([]byte(tt.body))
			if !ok || got != tt.want {
				t.Errorf("UsageFromBody = %+v, %v; want %+v", got, ok, tt.want)
			}
		})
	}
}
