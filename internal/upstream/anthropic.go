package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/moat-gw/moat/internal/openai"
)

// anthropic is the Anthropic Messages API, served by Anthropic
// (base_url https://api.anthropic.com) and by Azure AI Foundry
// (https://{resource}.services.ai.azure.com/anthropic): POST
// {base_url}/v1/messages with the deployment or model in "model", an
// x-api-key header (Foundry takes it as well as api-key) or an Entra
// token for https://ai.azure.com/.default, and an anthropic-version header.
// Usage is input_tokens plus the cache tokens (creation and read), and
// output_tokens: message_start carries the first, message_delta the last.
type anthropic struct{}

// AnthropicVersion is the anthropic-version sent when the client sent none.
const AnthropicVersion = "2023-06-01"

func (anthropic) Type() Type { return TypeAnthropic }

func (anthropic) Spec() Spec {
	return Spec{URL: URLBaseURL, Entra: true, DefaultScope: "https://ai.azure.com/.default"}
}

func (anthropic) Provider() string { return "anthropic" }

func (anthropic) Serves(op openai.Operation) bool { return op.Family() == openai.APIAnthropic }

func (anthropic) URL(e Endpoint, c Call) *url.URL { return anthropicURL(e.Base, c) }

func (anthropic) Body(_ Endpoint, c Call, body []byte) ([]byte, bool, error) {
	out, err := setModel(c, body)
	return out, false, err
}

func (anthropic) KeyAuth(key string) Authenticator { return XAPIKey(key) }

func (anthropic) Header(h http.Header, _ Call) { setAnthropicVersion(h) }

func (anthropic) ScrubHeader(h http.Header) { scrubAnthropic(h) }

// scrubAnthropic removes the header that names the Anthropic organization
// behind an answer.
func scrubAnthropic(h http.Header) { h.Del("Anthropic-Organization-Id") }

func (anthropic) Limits(h http.Header) Limits { return anthropicLimits(h) }

func (anthropic) AnswerUsage(op openai.Operation, tail []byte, whole bool) (openai.Usage, bool) {
	return anthropicAnswerUsage(op, tail, whole)
}

func (anthropic) NewStream(Call, bool) Stream { return &anthropicStream{} }

func (anthropic) StreamText(name, data []byte) string {
	t, _ := anthropicStreamText(name, data)
	return t
}

// XAPIKey sends Anthropic's x-api-key header, which Azure AI Foundry also
// takes for Claude.
type XAPIKey string

// Authorize sets x-api-key.
func (k XAPIKey) Authorize(_ context.Context, h http.Header) error {
	h.Set("X-Api-Key", string(k))
	return nil
}

func anthropicURL(base *url.URL, c Call) *url.URL {
	if c.Path != "" {
		return objectURL(base, []string{"v1"}, c)
	}
	return joinPath(base, "v1", c.Operation.Suffix)
}

// setAnthropicVersion keeps the client's anthropic-version (the SDKs always
// send one) and sets moat's default otherwise, since the API requires it.
func setAnthropicVersion(h http.Header) {
	if h.Get("Anthropic-Version") == "" {
		h.Set("Anthropic-Version", AnthropicVersion)
	}
}

// anthropicLimits reads Anthropic's rate-limit headers, and Foundry's
// Azure-style one, with retry-after.
func anthropicLimits(h http.Header) Limits {
	return Limits{
		RemainingTokens: headerInt(h, "Anthropic-Ratelimit-Tokens-Remaining", "Anthropic-Ratelimit-Input-Tokens-Remaining", "X-Ratelimit-Remaining-Tokens"),
		RetryAfter:      retryAfter(h),
	}
}

// anthropicUsage is the usage object of a message, message_start and
// message_delta. Members absent from a message_delta keep their value.
type anthropicUsage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
}

// merge overlays the members u carries on acc.
func (acc *anthropicUsage) merge(u anthropicUsage) {
	for _, f := range []struct{ dst, src **int }{
		{&acc.InputTokens, &u.InputTokens}, {&acc.OutputTokens, &u.OutputTokens},
		{&acc.CacheCreationInputTokens, &u.CacheCreationInputTokens}, {&acc.CacheReadInputTokens, &u.CacheReadInputTokens},
	} {
		if *f.src != nil {
			*f.dst = *f.src
		}
	}
}

// usage is moat's usage: prompt tokens are every input token, cached or
// not (as OpenAI's prompt_tokens includes cached tokens), so that limits
// and the request log count what the service processed.
func (acc anthropicUsage) usage() (openai.Usage, bool) {
	v := func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	}
	if acc.InputTokens == nil && acc.OutputTokens == nil && acc.CacheCreationInputTokens == nil && acc.CacheReadInputTokens == nil {
		return openai.Usage{}, false
	}
	u := openai.Usage{
		PromptTokens:     v(acc.InputTokens) + v(acc.CacheCreationInputTokens) + v(acc.CacheReadInputTokens),
		CompletionTokens: v(acc.OutputTokens),
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u, true
}

// anthropicAnswerUsage reads a message's usage, the last member of the
// body. A token count (count_tokens) generates nothing and is free: its
// usage is zero, not an estimate.
func anthropicAnswerUsage(op openai.Operation, tail []byte, whole bool) (openai.Usage, bool) {
	if !op.ReservesOutput { // count_tokens
		return openai.Usage{}, true
	}
	var u anthropicUsage
	if raw, ok := lastUsageObject(tail); ok && json.NewDecoder(bytes.NewReader(raw)).Decode(&u) == nil {
		if out, ok := u.usage(); ok {
			return out, true
		}
	}
	if whole {
		var env struct {
			Usage anthropicUsage `json:"usage"`
		}
		if json.Unmarshal(tail, &env) == nil {
			return env.Usage.usage()
		}
	}
	return openai.Usage{}, false
}

// anthropicStream reads a Messages stream: message_start carries the input
// usage, message_delta the output usage so far, and the first
// content_block_delta is the first token. Only those events are decoded.
type anthropicStream struct {
	acc     anthropicUsage
	content bool
}

func (*anthropicStream) ReportsUsage() bool { return true }

var (
	evMessageStart = []byte("message_start")
	evMessageDelta = []byte("message_delta")
	evContentDelta = []byte("content_block_delta")
)

func (s *anthropicStream) Event(_, name, data []byte) StreamEvent {
	if len(name) == 0 {
		name = anthropicEventType(data)
	}
	var out StreamEvent
	switch {
	case bytes.Equal(name, evContentDelta):
		if !s.content {
			s.content, out.FirstContent = true, true
		}
	case bytes.Equal(name, evMessageStart):
		var ev struct {
			Message struct {
				Usage anthropicUsage `json:"usage"`
			} `json:"message"`
		}
		if json.Unmarshal(data, &ev) == nil {
			s.acc.merge(ev.Message.Usage)
			out.Usage = s.current()
		}
	case bytes.Equal(name, evMessageDelta):
		var ev struct {
			Usage anthropicUsage `json:"usage"`
		}
		if json.Unmarshal(data, &ev) == nil {
			s.acc.merge(ev.Usage)
			out.Usage = s.current()
		}
	}
	return out
}

func (s *anthropicStream) current() *openai.Usage {
	u, ok := s.acc.usage()
	if !ok {
		return nil
	}
	return &u
}

// anthropicEventType reads "type" from an event sent without an event:
// line (the API always sends one; a compatible server might not).
func anthropicEventType(data []byte) []byte {
	var ev struct {
		Type string `json:"type"`
	}
	if !bytes.Contains(data, []byte(`"type"`)) || json.Unmarshal(data, &ev) != nil {
		return nil
	}
	return []byte(ev.Type)
}

// anthropicStreamText is the text of a content_block_delta: text, tool
// input JSON or thinking. ok is false for events of other shapes.
func anthropicStreamText(name, data []byte) (string, bool) {
	if len(name) == 0 {
		name = anthropicEventType(data)
	}
	if !bytes.Equal(name, evContentDelta) {
		return "", bytes.HasPrefix(name, []byte("message_")) || bytes.HasPrefix(name, []byte("content_block_")) || bytes.Equal(name, []byte("ping"))
	}
	var ev struct {
		Delta struct {
			Text        string `json:"text"`
			PartialJSON string `json:"partial_json"`
			Thinking    string `json:"thinking"`
		} `json:"delta"`
	}
	if json.Unmarshal(data, &ev) != nil {
		return "", true
	}
	return ev.Delta.Text + ev.Delta.PartialJSON + ev.Delta.Thinking, true
}
