package tokens

import (
	"bytes"
	"context"
	"encoding/json"
	"math"

	"github.com/moat-gw/moat/internal/openai"
)

// Per-message overheads of the chat format, from OpenAI's cookbook
// ("How to count tokens with tiktoken"): every message is framed as
// <|start|>{role}\n{content}<|end|>\n, a name costs one extra token, and the
// reply is primed with <|start|>assistant<|message|>.
const (
	tokensPerMessage = 3
	tokensPerName    = 1
	tokensPerReply   = 3
)

// Prompt estimates the prompt tokens a model will bill for r, exactly and
// without bounds. It is PromptWithin without a context or a cap, for
// callers that hold the prompt already (the simulator).
func (c *Counter) Prompt(model string, r *openai.Request) int {
	n, _ := c.PromptWithin(context.Background(), model, r, math.MaxInt)
	return n
}

// PromptWithin estimates the prompt tokens a model will bill for r, never
// below what it will bill. Chat requests are counted as OpenAI's cookbook
// does (content, role and name tokens, three per message, three to prime
// the reply); completions, embeddings and responses requests count their
// text, and pre-tokenized inputs (arrays of token IDs) count one per ID.
//
// Texts are counted exactly while their bytes fit in maxExactBytes; a
// text that does not fit counts as its upper bound (one token per byte),
// so a huge prompt costs a scan rather than a tokenization and its
// reservation still covers it. If ctx ends, counting stops and
// PromptWithin returns the upper bound of what is left uncounted with
// ctx's error. Messages are decoded once.
func (c *Counter) PromptWithin(ctx context.Context, model string, r *openai.Request, maxExactBytes int) (int, error) {
	if r == nil {
		return 0, nil
	}
	p := promptCount{ctx: ctx, c: c, v: c.vocab(model), budget: maxExactBytes}
	if p.v != nil {
		p.m = c.mergers.Get().(*merger)
		defer c.mergers.Put(p.m)
	}
	if msgs, ok := decode(r.Messages); ok {
		if list, isList := msgs.([]any); isList {
			for _, m := range list {
				p.n += tokensPerMessage
				if obj, isObj := m.(map[string]any); isObj {
					if role, _ := obj["role"].(string); role != "" {
						p.text(role)
					}
					if name, _ := obj["name"].(string); name != "" {
						p.n += tokensPerName
					}
				}
			}
			p.n += tokensPerReply
		}
		p.walk(msgs, "")
	}
	for _, raw := range []json.RawMessage{r.Prompt, r.Input} {
		if v, ok := decode(raw); ok {
			p.walk(v, "")
			p.n += countTokenIDs(v)
		}
	}
	if r.Instructions != "" {
		p.text(r.Instructions)
	}
	return p.n, p.err
}

// promptCount accumulates one prompt's count under its exact-byte budget.
type promptCount struct {
	ctx    context.Context
	c      *Counter
	v      *vocab
	m      *merger
	budget int
	n      int
	err    error
	// onText, when set, sees every text counted (tests hold the walk to
	// openai.Request.PromptText with it).
	onText func(string)
}

// text counts one string: exactly while it fits the budget and the
// context lives, else by its upper bound.
func (p *promptCount) text(s string) {
	if s == "" {
		return
	}
	if p.onText != nil {
		p.onText(s)
	}
	if p.err != nil || len(s) > p.budget {
		p.n += upperBound(s)
		return
	}
	p.budget -= len(s)
	if p.v == nil {
		p.n += upperBound(s)
		return
	}
	n, err := p.v.count(p.ctx, s, p.m)
	if err != nil {
		p.err = err
		n = upperBound(s)
	}
	p.n += n
}

// walk counts the string leaves of a decoded JSON value that carry
// model-visible text. It keeps the rules of openai.Request.PromptText
// (keys, skipped media parts), which a test holds it to, but works on a
// value decoded once instead of decoding again.
func (p *promptCount) walk(v any, key string) {
	switch t := v.(type) {
	case string:
		switch key {
		case "", "content", "text", "name", "arguments", "input", "prompt", "output", "instructions":
			p.text(t)
		}
	case []any:
		for _, e := range t {
			p.walk(e, key)
		}
	case map[string]any:
		for k, e := range t {
			if k == "image_url" || k == "input_audio" || k == "file" {
				continue
			}
			p.walk(e, k)
		}
	}
}

// decode parses a JSON member; absent or malformed members count nothing.
func decode(raw json.RawMessage) (any, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	return v, true
}

// countTokenIDs counts the integers of a pre-tokenized prompt or input:
// [1,2,3] or [[1,2],[3]]. Other shapes count zero here (their text is
// counted by walk).
func countTokenIDs(v any) int {
	list, ok := v.([]any)
	if !ok {
		return 0
	}
	if allNumbers(list) {
		return len(list)
	}
	n := 0
	for _, e := range list {
		if ids, ok := e.([]any); ok && allNumbers(ids) {
			n += len(ids)
		}
	}
	return n
}

// allNumbers reports whether list decodes as []float64 (null elements
// included, as encoding/json accepts them there).
func allNumbers(list []any) bool {
	for _, e := range list {
		switch e.(type) {
		case float64, nil:
		default:
			return false
		}
	}
	return true
}
