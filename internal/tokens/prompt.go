package tokens

import (
	"bytes"
	"context"
	"math"
	"unicode/utf8"
	"unsafe"

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
// ctx's error. The JSON is read once, in place (walk.go).
func (c *Counter) PromptWithin(ctx context.Context, model string, r *openai.Request, maxExactBytes int) (int, error) {
	if r == nil {
		return 0, nil
	}
	p := promptCount{ctx: ctx, c: c, v: c.vocab(model), budget: maxExactBytes}
	if p.v != nil {
		p.m = c.mergers.Get().(*merger)
		defer c.mergers.Put(p.m)
	}
	walkPrompt(r, &p)
	if r.Instructions != "" {
		p.text(r.Instructions)
	}
	return p.n, p.err
}

// PromptBound is an upper bound of PromptWithin's count found without
// tokenizing: every text counts its length in bytes (three per byte that
// is not UTF-8), which no byte-level BPE count exceeds (see upperBound).
// It reads the JSON in place, about a tenth of a microsecond per KiB,
// so admission can reserve on it and tokenize only near a limit.
func PromptBound(r *openai.Request) int {
	return promptBound(r)
}

// PromptBound is the package's PromptBound, as a method for callers that
// hold a Counter behind an interface.
func (c *Counter) PromptBound(r *openai.Request) int { return promptBound(r) }

func promptBound(r *openai.Request) int {
	if r == nil {
		return 0
	}
	var b boundCount
	walkPrompt(r, &b)
	return b.n + upperBound(r.Instructions)
}

// walkPrompt hands the texts of messages, prompt and input to sink, and
// adds the framing and token-ID counts to its total.
func walkPrompt(r *openai.Request, sink interface {
	textSink
	add(int)
}) {
	if m := bytes.TrimLeft(r.Messages, " \t\r\n"); len(m) > 0 {
		w := jsonWalk{b: m, sink: sink}
		if m[0] == '[' {
			if w.array(nil, true) {
				sink.add(tokensPerReply)
			}
		} else {
			w.value(nil)
		}
	}
	for _, raw := range [][]byte{r.Prompt, r.Input} {
		if len(raw) == 0 {
			continue
		}
		w := jsonWalk{b: raw, sink: sink}
		if w.value(nil) {
			sink.add(countIDs(raw))
		}
	}
}

// boundCount sums the upper bounds of the texts it is handed.
type boundCount struct{ n int }

func (b *boundCount) add(n int) { b.n += n }

func (b *boundCount) leaf(raw []byte, _ bool) {
	// Unescaping never lengthens valid UTF-8 (\n is two bytes for one,
	// \u00e9 six for two, a surrogate pair twelve for four); a byte that
	// is not UTF-8 decodes to U+FFFD, three bytes.
	if utf8.Valid(raw) {
		b.n += len(raw)
	} else {
		b.n += 3 * len(raw)
	}
}

func (b *boundCount) message(role []byte, roleEscaped, named bool) {
	b.n += tokensPerMessage
	if role != nil {
		b.leaf(role, roleEscaped)
	}
	if named {
		b.n += tokensPerName
	}
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
	// buf holds an unescaped text; the strings counted point into it or
	// into the request body and are never kept.
	buf []byte
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

func (p *promptCount) add(n int) { p.n += n }

// leaf counts one string leaf: in place when it has no escape and is
// UTF-8, else decoded as encoding/json would into the count's reused
// buffer.
func (p *promptCount) leaf(raw []byte, escaped bool) {
	if len(raw) == 0 {
		return
	}
	if escaped || !utf8.Valid(raw) {
		p.buf = unquote(p.buf[:0], raw)
		if raw = p.buf; len(raw) == 0 {
			return
		}
	}
	p.text(unsafe.String(&raw[0], len(raw)))
}

func (p *promptCount) message(role []byte, roleEscaped, named bool) {
	p.n += tokensPerMessage
	if role != nil {
		p.leaf(role, roleEscaped)
	}
	if named {
		p.n += tokensPerName
	}
}
