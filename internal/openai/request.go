package openai

import (
	"encoding/json"
)

// Request is what the gateway reads from a JSON request body. Everything
// else in the body is passed upstream untouched.
type Request struct {
	Model               string          `json:"model"`
	Stream              bool            `json:"stream"`
	StreamOptions       *StreamOptions  `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	MaxOutputTokens     *int            `json:"max_output_tokens"`
	N                   *int            `json:"n"`
	Messages            json.RawMessage `json:"messages"`
	Prompt              json.RawMessage `json:"prompt"`
	Input               json.RawMessage `json:"input"`
	Instructions        string          `json:"instructions"`
	// PreviousResponseID chains a Responses call to a stored response,
	// which lives on one upstream: moat routes the call there.
	PreviousResponseID string `json:"previous_response_id"`
	// Background asks the Responses API to run the call asynchronously.
	Background bool `json:"background"`
	// System is the Anthropic Messages API's system prompt (a string or
	// text blocks), prompt text like instructions.
	System json.RawMessage `json:"system"`
}

// StreamOptions mirrors the stream_options request field.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// WantsUsageChunk reports whether the client asked for the trailing usage chunk.
func (r *Request) WantsUsageChunk() bool {
	return r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// OutputCap is the most completion tokens the request may produce, or 0 when
// the client set no cap.
func (r *Request) OutputCap() int {
	for _, p := range []*int{r.MaxCompletionTokens, r.MaxTokens, r.MaxOutputTokens} {
		if p != nil && *p > 0 {
			n := *p
			if r.N != nil && *r.N > 1 {
				n *= *r.N
			}
			return n
		}
	}
	return 0
}

// PromptText gathers the text of a request that counts as prompt tokens:
// chat message contents (string or text parts), names, tool-call arguments,
// completion prompts, embedding or responses inputs, instructions and an
// Anthropic system prompt. It is
// used for offline estimation, so it errs toward including text.
func (r *Request) PromptText() []string {
	var out []string
	out = appendText(out, r.Messages)
	out = appendText(out, r.Prompt)
	out = appendText(out, r.Input)
	if r.Instructions != "" {
		out = append(out, r.Instructions)
	}
	out = appendText(out, r.System)
	return out
}

// MessageCount is the number of chat messages, used for per-message overhead.
func (r *Request) MessageCount() int {
	var msgs []json.RawMessage
	if json.Unmarshal(r.Messages, &msgs) != nil {
		return 0
	}
	return len(msgs)
}

// appendText walks a JSON value and collects string leaves under keys that
// carry model-visible text.
func appendText(out []string, raw json.RawMessage) []string {
	if len(raw) == 0 {
		return out
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return out
	}
	return walkText(out, v, "")
}

func walkText(out []string, v any, key string) []string {
	switch t := v.(type) {
	case string:
		switch key {
		case "", "content", "text", "name", "arguments", "input", "prompt", "output", "instructions":
			out = append(out, t)
		}
	case []any:
		for _, e := range t {
			out = walkText(out, e, key)
		}
	case map[string]any:
		for k, e := range t {
			if k == "image_url" || k == "input_audio" || k == "file" {
				continue
			}
			out = walkText(out, e, k)
		}
	}
	return out
}
