// Package tokens counts tokens offline, the way OpenAI's tokenizers do, so
// that moat can estimate a request's cost before it reaches a model (rate
// limits reserve on the estimate) and the simulator can report usage that
// agrees with that estimate.
//
// The vocabularies are compiled into github.com/tiktoken-go/tokenizer, so
// counting never touches the network or the file system. A vocabulary is
// built on first use (tens of milliseconds, a few tens of MiB) and kept for
// the Counter's lifetime.
package tokens

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"

	"github.com/tiktoken-go/tokenizer"

	"github.com/moat-gw/moat/internal/openai"
)

// Encoding names, as tiktoken spells them.
const (
	O200kBase  = "o200k_base"
	Cl100kBase = "cl100k_base"
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

// Counter counts tokens for OpenAI models. Create one with New and share it:
// it is safe for concurrent use and loads each vocabulary at most once.
type Counter struct {
	o200k  lazyCodec
	cl100k lazyCodec
}

// lazyCodec builds one encoding's codec on first use.
type lazyCodec struct {
	enc   tokenizer.Encoding
	once  sync.Once
	codec tokenizer.Codec
}

func (l *lazyCodec) get() tokenizer.Codec {
	l.once.Do(func() {
		c, err := tokenizer.Get(l.enc)
		if err == nil {
			l.codec = c
		}
	})
	return l.codec
}

// New returns a Counter. Vocabularies load lazily, so New is cheap.
func New() *Counter {
	return &Counter{
		o200k:  lazyCodec{enc: tokenizer.O200kBase},
		cl100k: lazyCodec{enc: tokenizer.Cl100kBase},
	}
}

// Encoding names the tokenizer a model (or an Azure deployment named after
// its model, such as gpt-4o-mini or gpt-4o-2024-08-06) uses. GPT-4 and
// GPT-3.5 chat models, the embeddings models and the 002 base models use
// cl100k_base; everything else, including names that match no known model,
// uses o200k_base, the encoding of every current model family.
func (c *Counter) Encoding(model string) string {
	m := strings.ToLower(strings.TrimSpace(model))
	m = strings.TrimPrefix(m, "ft:")
	switch {
	case hasFamily(m, "gpt-4o"), hasFamily(m, "chatgpt-4o"), hasFamily(m, "gpt-4.1"),
		hasFamily(m, "gpt-4.5"), hasFamily(m, "gpt-5"), hasFamily(m, "gpt-oss"),
		hasFamily(m, "o1"), hasFamily(m, "o3"), hasFamily(m, "o4"):
		return O200kBase
	case hasFamily(m, "gpt-4"), hasFamily(m, "gpt-35"), hasFamily(m, "gpt-3.5"),
		strings.HasPrefix(m, "text-embedding-"),
		hasFamily(m, "davinci-002"), hasFamily(m, "babbage-002"):
		return Cl100kBase
	default:
		return O200kBase
	}
}

// hasFamily reports whether model is family itself or a member of it: the
// family name followed by a separator (gpt-4o-mini, gpt-4o-2024-08-06,
// gpt-5.1), so that gpt-4 does not claim gpt-4o.
func hasFamily(model, family string) bool {
	if !strings.HasPrefix(model, family) {
		return false
	}
	rest := model[len(family):]
	return rest == "" || rest[0] == '-' || rest[0] == '.' || rest[0] == ':' || rest[0] == '_'
}

func (c *Counter) codec(model string) tokenizer.Codec {
	if c.Encoding(model) == Cl100kBase {
		return c.cl100k.get()
	}
	return c.o200k.get()
}

// Count returns the number of tokens text has for model.
func (c *Counter) Count(model, text string) int {
	if text == "" {
		return 0
	}
	codec := c.codec(model)
	if codec == nil {
		return approximate(text)
	}
	n, err := codec.Count(text)
	if err != nil {
		return approximate(text)
	}
	return n
}

// approximate is the usual four-characters-per-token rule, used only if a
// codec cannot be built or fails on an input, so that counting never fails.
func approximate(text string) int {
	return (len(text) + 3) / 4
}

// Prompt estimates the prompt tokens a model will bill for r. Chat requests
// are counted as OpenAI's cookbook does (content, role and name tokens, three
// per message, three to prime the reply); completions, embeddings and
// responses requests count their text, and pre-tokenized inputs (arrays of
// token IDs) count one per ID.
func (c *Counter) Prompt(model string, r *openai.Request) int {
	if r == nil {
		return 0
	}
	n := 0
	for _, s := range r.PromptText() {
		n += c.Count(model, s)
	}
	n += countTokenIDs(r.Prompt) + countTokenIDs(r.Input)
	if msgs, ok := chatMessages(r.Messages); ok {
		for _, m := range msgs {
			n += tokensPerMessage + c.Count(model, m.Role)
			if m.Name != "" {
				n += tokensPerName
			}
		}
		n += tokensPerReply
	}
	return n
}

// chatMessage holds the fields of a chat message that cost tokens beyond the
// text PromptText already gathers.
type chatMessage struct {
	Role string `json:"role"`
	Name string `json:"name"`
}

func chatMessages(raw json.RawMessage) ([]chatMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	var msgs []json.RawMessage
	if json.Unmarshal(raw, &msgs) != nil {
		return nil, false
	}
	out := make([]chatMessage, len(msgs))
	for i, m := range msgs {
		// A message that is not an object still costs its framing.
		_ = json.Unmarshal(m, &out[i])
	}
	return out, true
}

// countTokenIDs counts the integers of a pre-tokenized prompt or input:
// [1,2,3] or [[1,2],[3]]. Other shapes count zero here (their text is
// counted through PromptText).
func countTokenIDs(raw json.RawMessage) int {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return 0
	}
	var flat []float64
	if json.Unmarshal(raw, &flat) == nil {
		return len(flat)
	}
	var nested []json.RawMessage
	if json.Unmarshal(raw, &nested) != nil {
		return 0
	}
	n := 0
	for _, e := range nested {
		var ids []float64
		if json.Unmarshal(e, &ids) == nil {
			n += len(ids)
		}
	}
	return n
}
