package openai

import "encoding/json"

// Usage is the token accounting of one call.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// usageWire accepts both the chat/embeddings names and the Responses API
// names (input_tokens/output_tokens).
type usageWire struct {
	PromptTokens     *int `json:"prompt_tokens"`
	CompletionTokens *int `json:"completion_tokens"`
	TotalTokens      *int `json:"total_tokens"`
	InputTokens      *int `json:"input_tokens"`
	OutputTokens     *int `json:"output_tokens"`
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
