// Package tokens counts tokens offline, the way OpenAI's tokenizers do, so
// that moat can estimate a request's cost before it reaches a model (rate
// limits reserve on the estimate) and the simulator can report usage that
// agrees with that estimate.
//
// The vocabularies are compiled into github.com/tiktoken-go/tokenizer, so
// counting never touches the network or the file system. A vocabulary is
// built on first use (tens of milliseconds of CPU, a few MiB) and kept for
// the Counter's lifetime. Text is split into pieces by a hand-written
// scanner that yields exactly the pieces of that module's split patterns,
// in linear time (split.go); pieces are merged by byte-pair encoding in
// O(n log n) at worst, and pieces longer than 256 bytes are bounded rather
// than merged (bpe.go), so no input makes counting superlinear. Request
// prompts are counted under the request's context and a cap on the bytes
// tokenized exactly (PromptWithin).
package tokens

import (
	"context"
	"strings"
	"sync"

	"github.com/tiktoken-go/tokenizer"
)

// Encoding names, as tiktoken spells them.
const (
	O200kBase  = "o200k_base"
	Cl100kBase = "cl100k_base"
)

// Counter counts tokens for OpenAI models. Create one with New and share it:
// it is safe for concurrent use and loads each vocabulary at most once.
type Counter struct {
	clsOnce sync.Once
	cls     *classes
	o200k   lazyVocab
	cl100k  lazyVocab
	// mergers recycles BPE scratch space between counts.
	mergers sync.Pool
}

// lazyVocab builds one encoding's vocabulary on first use.
type lazyVocab struct {
	enc  tokenizer.Encoding
	once sync.Once
	v    *vocab
}

// New returns a Counter. Vocabularies load lazily, so New is cheap.
func New() *Counter {
	c := &Counter{
		o200k:  lazyVocab{enc: tokenizer.O200kBase},
		cl100k: lazyVocab{enc: tokenizer.Cl100kBase},
	}
	c.mergers.New = func() any { return new(merger) }
	return c
}

// vocab returns model's vocabulary, or nil if it cannot be built (counting
// then falls back to an approximation rather than failing a request).
func (c *Counter) vocab(model string) *vocab {
	l := &c.o200k
	if c.Encoding(model) == Cl100kBase {
		l = &c.cl100k
	}
	l.once.Do(func() {
		c.clsOnce.Do(func() { c.cls = newClasses() })
		if v, err := loadVocab(l.enc, c.cls); err == nil {
			l.v = v
		}
	})
	return l.v
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

// Count returns the number of tokens text has for model, exactly and
// without a bound on the work: for text moat produced or already holds
// (the simulator's answers, a stream's collected output). Request prompts
// go through PromptWithin, which honours the request's context and the
// exact-count cap.
func (c *Counter) Count(model, text string) int {
	if text == "" {
		return 0
	}
	v := c.vocab(model)
	if v == nil {
		return approximate(text)
	}
	m := c.mergers.Get().(*merger)
	defer c.mergers.Put(m)
	n, _ := v.count(context.Background(), text, m)
	return n
}

// approximate is the usual four-characters-per-token rule, used only if a
// codec cannot be built or fails on an input, so that counting never fails.
func approximate(text string) int {
	return (len(text) + 3) / 4
}
