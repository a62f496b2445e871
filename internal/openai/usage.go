package openai

import "encoding/json"

// Usage is the token accounting of one call.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	// The details that price a call (package cost): parts of the prompt
	// served from the prompt cache or spoken, parts of the completion
	// spent reasoning or spoken. Zero when the upstream sent none.
	CachedTokens          int `json:"-"`
	AudioPromptTokens     int `json:"-"`
	ReasoningTokens       int `json:"-"`
	AudioCompletionTokens int `json:"-"`
}

// usageDetails is prompt_tokens_details / completion_tokens_details (chat)
// or input_tokens_details / output_tokens_details (Responses).
type usageDetails struct {
	CachedTokens    int `json:"cached_tokens"`
	AudioTokens     int `json:"audio_tokens"`
	ReasoningTokens int `json:"reasoning_tokens"`
}

// usageWire accepts both the chat/embeddings names and the Responses API
// names (input_tokens/output_tokens).
type usageWire struct {
	PromptTokens     *int `json:"prompt_tokens"`
	CompletionTokens *int `json:"completion_tokens"`
	TotalTokens      *int `json:"total_tokens"`
	InputTokens      *int `json:"input_tokens"`
	OutputTokens     *int `json:"output_tokens"`

	PromptDetails     *usageDetails `json:"prompt_tokens_details"`
	CompletionDetails *usageDetails `json:"completion_tokens_details"`
	InputDetails      *usageDetails `json:"input_tokens_details"`
	OutputDetails     *usageDetails `json:"output_tokens_details"`
}

func (w usageWire) usage() (Usage, bool) {
	var u Usage
	ok := false
	pick := func(dst *int, ps ...*int) {
		for _, p := range ps {
			if p != nil {
				*dst, ok = *p, true
				return
			}
		}
	}
	pick(&u.PromptTokens, w.PromptTokens, w.InputTokens)
	pick(&u.CompletionTokens, w.CompletionTokens, w.OutputTokens)
	pick(&u.TotalTokens, w.TotalTokens)
	if ok && u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	for _, d := range []*usageDetails{w.PromptDetails, w.InputDetails} {
		if d != nil {
			u.CachedTokens, u.AudioPromptTokens = max(u.CachedTokens, d.CachedTokens), max(u.AudioPromptTokens, d.AudioTokens)
		}
	}
	for _, d := range []*usageDetails{w.CompletionDetails, w.OutputDetails} {
		if d != nil {
			u.ReasoningTokens, u.AudioCompletionTokens = max(u.ReasoningTokens, d.ReasoningTokens), max(u.AudioCompletionTokens, d.AudioTokens)
		}
	}
	return u, ok
}

// UsageFromBody extracts usage from a JSON response body (chat, completions,
// embeddings, responses). ok is false when the body carries no usage.
func UsageFromBody(body []byte) (Usage, bool) {
	var env struct {
		Usage    *usageWire `json:"usage"`
		Response *struct {
			Usage *usageWire `json:"usage"`
		} `json:"response"`
	}
	if json.Unmarshal(body, &env) != nil {
		return Usage{}, false
	}
	if env.Usage != nil {
		return env.Usage.usage()
	}
	if env.Response != nil && env.Response.Usage != nil {
		return env.Response.Usage.usage()
	}
	return Usage{}, false
}

// UsageObject decodes one usage object (chat or Responses names) from dec,
// ignoring whatever follows it.
func UsageObject(dec *json.Decoder) (Usage, bool) {
	var w usageWire
	if dec.Decode(&w) != nil {
		return Usage{}, false
	}
	return w.usage()
}
