package upstream

import (
	"net/http"
	"net/url"

	"github.com/moat-gw/moat/internal/openai"
)

// simulator is moat's built-in simulator, run in-process on a loopback
// port. It answers as Azure OpenAI on Azure's paths, and as Azure AI
// Foundry's Anthropic Messages API on /anthropic/v1/… for Claude
// deployments, so one simulator upstream serves both API families.
type simulator struct{}

func (simulator) Type() Type { return TypeSimulator }

func (simulator) Spec() Spec { return Spec{URL: URLNone, Deployments: true} }

func (simulator) Provider() string { return "azure.ai.openai" }

func (simulator) Serves(openai.Operation) bool { return true }

func (simulator) URL(e Endpoint, c Call) *url.URL {
	if c.Operation.Family() == openai.APIAnthropic {
		return anthropicURL(joinPath(e.Base, "anthropic"), c)
	}
	return azureURL(e, c)
}

func (simulator) Body(e Endpoint, c Call, body []byte) ([]byte, bool, error) {
	if c.Operation.Family() == openai.APIAnthropic {
		out, err := setModel(c, body)
		return out, false, err
	}
	return azureBody(e, c, body)
}

func (simulator) KeyAuth(key string) Authenticator { return APIKey(key) }

func (simulator) Header(h http.Header, c Call) {
	if c.Operation.Family() == openai.APIAnthropic {
		setAnthropicVersion(h)
	}
}

func (simulator) ScrubHeader(h http.Header) {
	scrubOpenAI(h)
	scrubAnthropic(h)
}

func (simulator) Limits(h http.Header) Limits {
	l := openaiLimits(h)
	if l.RemainingTokens < 0 {
		l.RemainingTokens = anthropicLimits(h).RemainingTokens
	}
	return l
}

func (simulator) AnswerUsage(op openai.Operation, tail []byte, whole bool) (openai.Usage, bool) {
	if op.Family() == openai.APIAnthropic {
		return anthropicAnswerUsage(op, tail, whole)
	}
	return openaiAnswerUsage(tail, whole)
}

func (simulator) NewStream(c Call, injected bool) Stream {
	if c.Operation.Family() == openai.APIAnthropic {
		return &anthropicStream{}
	}
	return newOpenAIStream(c, injected)
}

func (simulator) StreamText(name, data []byte) string {
	if t, ok := anthropicStreamText(name, data); ok {
		return t
	}
	return openai.ParseStreamChunk(string(name), data).Text
}
