package openai

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

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

// usageNames are the usageWire members, as encoding/json matches them.
var usageNames = [...]string{"prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "output_tokens"}

// detailNames are usageWire's detail members, in usageWire's order.
var detailNames = [...]string{"prompt_tokens_details", "completion_tokens_details", "input_tokens_details", "output_tokens_details"}

// detailsMember returns the index in detailNames of key, matched as
// encoding/json matches names.
func detailsMember(key []byte) (int, bool) {
	for f, name := range detailNames {
		if strings.EqualFold(string(key), name) {
			return f, true
		}
	}
	return 0, false
}

// detailNamesInner are usageDetails' members.
var detailNamesInner = [...]string{"cached_tokens", "audio_tokens", "reasoning_tokens"}

// detailsJSON decodes a valid details object into d the way encoding/json
// would for the common shape (plain names, integer or null counts); it
// reports false for anything else, which the caller hands to the decoder.
func detailsJSON(obj []byte, d *usageDetails) bool {
	fields := [...]*int{&d.CachedTokens, &d.AudioTokens, &d.ReasoningTokens}
	for m := range objectMembers(obj, 0) {
		if bytes.IndexByte(m.name, '\\') >= 0 {
			return false
		}
		for f, name := range detailNamesInner {
			if !strings.EqualFold(string(m.name), name) {
				continue
			}
			if v := obj[m.start:m.end]; string(v) != "null" {
				n, err := strconv.Atoi(string(v))
				if err != nil {
					return false
				}
				*fields[f] = n
			}
			break
		}
	}
	return true
}

// UsageJSON decodes the usage object that starts at b[0] ('{'), ignoring
// whatever follows it, as UsageObject does, but without a json.Decoder and
// without reflection for the common shape: an object whose members have
// plain names and whose counts are integers. Anything else (an escaped
// name, a count that is not an integer) goes to UsageObject, so the two
// always agree (FuzzUsageJSON).
func UsageJSON(b []byte) (Usage, bool) {
	end := skipValue(b, 0)
	if len(b) == 0 || b[0] != '{' || !validJSON(b[:end]) {
		return UsageObject(json.NewDecoder(bytes.NewReader(b)))
	}
	obj := b[:end]
	var vals [len(usageNames)]*int
	var store [len(usageNames)]int
	var details [len(detailNames)]*usageDetails
	var detailStore [len(detailNames)]usageDetails
	for m := range objectMembers(obj, 0) {
		key := m.name
		if bytes.IndexByte(key, '\\') >= 0 {
			return UsageObject(json.NewDecoder(bytes.NewReader(b)))
		}
		if f, ok := detailsMember(key); ok {
			// The details price a call (package cost): small objects,
			// decoded on their own.
			switch v := obj[m.start:m.end]; {
			case string(v) == "null":
				details[f] = nil
			case v[0] == '{':
				if details[f] == nil { // a repeated member merges into the first, as encoding/json does
					detailStore[f] = usageDetails{}
				}
				if !detailsJSON(v, &detailStore[f]) {
					return UsageObject(json.NewDecoder(bytes.NewReader(b)))
				}
				details[f] = &detailStore[f]
			default:
				return Usage{}, false // not an object: the decoder fails too
			}
			continue
		}
		for f, name := range usageNames {
			if !strings.EqualFold(string(key), name) {
				continue
			}
			switch v := obj[m.start:m.end]; {
			case string(v) == "null":
				vals[f] = nil
			default:
				n, err := strconv.Atoi(string(v))
				if err != nil {
					return Usage{}, false // not an int: the decoder fails too
				}
				store[f] = n
				vals[f] = &store[f]
			}
			break
		}
	}
	w := usageWire{PromptTokens: vals[0], CompletionTokens: vals[1], TotalTokens: vals[2], InputTokens: vals[3], OutputTokens: vals[4],
		PromptDetails: details[0], CompletionDetails: details[1], InputDetails: details[2], OutputDetails: details[3]}
	return w.usage()
}
