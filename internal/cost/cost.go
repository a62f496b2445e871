// Package cost prices calls: a price table shipped in the binary (list
// prices, with a version, a currency and its source), overridden per model
// and per deployment in config, and pay-as-you-go or provisioned billing
// per deployment (provisioned throughput is paid by the hour, so a call
// costs nothing at the margin). It is a leaf: the gateway turns a call's
// usage into a Usage and logs what Pricer.Cost returns, with the Pricer's
// Version, so that every cost in the log says which prices made it.
package cost

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

//go:embed prices.json
var builtinJSON []byte

// Price is a model's prices: per million tokens of each kind, and per call
// for image generation and audio transcription or translation.
type Price struct {
	Input       float64 `json:"input"`
	CachedInput float64 `json:"cached_input"`
	Output      float64 `json:"output"`
	Reasoning   float64 `json:"reasoning"`
	Audio       float64 `json:"audio"`
	ImageCall   float64 `json:"image_call"`
	AudioCall   float64 `json:"audio_call"`
}

// Table is a price list.
type Table struct {
	Version  string           `json:"version"`
	Currency string           `json:"currency"`
	Source   string           `json:"source"`
	Unit     string           `json:"unit"`
	Models   map[string]Price `json:"models"`
}

// Builtin returns the price table embedded in the binary (prices.json).
func Builtin() (*Table, error) {
	return ParseTable(builtinJSON)
}

// ParseTable decodes a price table strictly.
func ParseTable(b []byte) (*Table, error) {
	var t Table
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("price table: %w", err)
	}
	var errs []error
	if t.Version == "" || t.Currency == "" {
		errs = append(errs, errors.New("price table: version and currency are required"))
	}
	for m, p := range t.Models {
		if err := p.validate(); err != nil {
			errs = append(errs, fmt.Errorf("price table: model %s: %w", m, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &t, nil
}

func (p Price) validate() error {
	for _, v := range []float64{p.Input, p.CachedInput, p.Output, p.Reasoning, p.Audio, p.ImageCall, p.AudioCall} {
		if v < 0 || v != v {
			return errors.New("prices must be 0 or more")
		}
	}
	return nil
}

// Lookup finds model's prices: the exact name, else the longest table name
// that model extends with "-" (a dated version such as gpt-4o-2024-11-20
// takes gpt-4o's prices). Names compare case-insensitively.
func (t *Table) Lookup(model string) (Price, bool) {
	model = strings.ToLower(model)
	if p, ok := t.Models[model]; ok {
		return p, true
	}
	best, found := "", false
	for name := range t.Models {
		if strings.HasPrefix(model, name+"-") && len(name) > len(best) {
			best, found = name, true
		}
	}
	return t.Models[best], found
}

// withDefaults fills the token kinds a price list often leaves out:
// cached input at the input price, reasoning at the output price (how
// OpenAI and Azure bill reasoning tokens), audio at the text prices.
func (p Price) withDefaults() Price {
	if p.CachedInput == 0 {
		p.CachedInput = p.Input
	}
	if p.Reasoning == 0 {
		p.Reasoning = p.Output
	}
	return p
}

// Usage is what a call used, as its upstream reported it. Cached, reasoning
// and audio tokens are parts of the prompt and completion counts, as in
// OpenAI's usage details.
type Usage struct {
	PromptTokens          int
	CachedTokens          int
	AudioPromptTokens     int
	CompletionTokens      int
	ReasoningTokens       int
	AudioCompletionTokens int
}

// CallKind selects a per-call price.
type CallKind int

// Call kinds.
const (
	CallTokens CallKind = iota // priced by tokens only
	CallImage                  // image generation: ImageCall per call
	CallAudio                  // transcription, translation: AudioCall per call
)

// Cost is what u costs at p.
func (p Price) Cost(u Usage, kind CallKind) float64 {
	p = p.withDefaults()
	audioPrice := func(text float64) float64 {
		if p.Audio > 0 {
			return p.Audio
		}
		return text
	}
	cached := clamp(u.CachedTokens, u.PromptTokens)
	audioIn := clamp(u.AudioPromptTokens, u.PromptTokens-cached)
	textIn := u.PromptTokens - cached - audioIn
	reasoning := clamp(u.ReasoningTokens, u.CompletionTokens)
	audioOut := clamp(u.AudioCompletionTokens, u.CompletionTokens-reasoning)
	textOut := u.CompletionTokens - reasoning - audioOut
	c := (float64(textIn)*p.Input + float64(cached)*p.CachedInput + float64(audioIn)*audioPrice(p.Input) +
		float64(textOut)*p.Output + float64(reasoning)*p.Reasoning + float64(audioOut)*audioPrice(p.Output)) / 1e6
	switch kind {
	case CallImage:
		c += p.ImageCall
	case CallAudio:
		c += p.AudioCall
	}
	return c
}

// Ceiling is the most prompt tokens and output tokens can cost at p: every
// prompt token at the dearest input kind, every output token at the
// dearest output kind. Budgets reserve it at admission.
func (p Price) Ceiling(prompt, output int, kind CallKind) float64 {
	p = p.withDefaults()
	in := max(p.Input, p.CachedInput, p.Audio)
	out := max(p.Output, p.Reasoning, p.Audio)
	c := (float64(prompt)*in + float64(output)*out) / 1e6
	switch kind {
	case CallImage:
		c += p.ImageCall
	case CallAudio:
		c += p.AudioCall
	}
	return c
}

func clamp(v, hi int) int { return max(0, min(v, hi)) }
