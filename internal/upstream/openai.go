package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/moat-gw/moat/internal/openai"
)

// openaiProtocol is OpenAI's API and servers that copy it (vLLM, Ollama,
// LiteLLM, …): {base_url}/{operation}, the model named in the body, a
// Bearer key. The Azure protocol and the simulator share its answer
// readers, since Azure OpenAI answers in OpenAI's shapes.
type openaiProtocol struct{ typ Type }

func (p openaiProtocol) Type() Type { return p.typ }

func (p openaiProtocol) Spec() Spec {
	return Spec{URL: URLBaseURL, KeyRequired: p.typ == TypeOpenAI}
}

func (openaiProtocol) Provider() string { return "openai" }

func (openaiProtocol) Serves(op openai.Operation) bool { return op.Family() == openai.APIOpenAI }

func (openaiProtocol) URL(e Endpoint, c Call) *url.URL {
	if c.Path != "" {
		return objectURL(e.Base, nil, c)
	}
	return joinPath(e.Base, c.Operation.Suffix)
}

func (openaiProtocol) Body(e Endpoint, c Call, body []byte) ([]byte, bool, error) {
	out, err := setModel(c, body)
	if err != nil {
		return nil, false, err
	}
	inject := e.StreamUsage && c.Operation.StreamUsageOption
	return withStreamUsage(c, out, inject)
}

func (openaiProtocol) KeyAuth(key string) Authenticator { return BearerKey(key) }

func (openaiProtocol) Header(http.Header, Call) {}

func (openaiProtocol) ScrubHeader(h http.Header) { scrubOpenAI(h) }

func (openaiProtocol) Limits(h http.Header) Limits { return openaiLimits(h) }

func (openaiProtocol) AnswerUsage(_ openai.Operation, tail []byte, whole bool) (openai.Usage, bool) {
	return openaiAnswerUsage(tail, whole)
}

func (openaiProtocol) NewStream(c Call, injected bool) Stream { return newOpenAIStream(c, injected) }

func (openaiProtocol) StreamText(name, data []byte) string {
	return openai.ParseStreamChunk(string(name), data).Text
}

// setModel sets "model" to the upstream's name for the deployment:
// OpenAI-style services route on it. It is spliced into the body as it
// came, so the rest is forwarded byte for byte, never decoded and
// re-encoded.
func setModel(c Call, body []byte) ([]byte, error) {
	if c.Operation.Multipart || len(body) == 0 {
		return body, nil
	}
	m, _ := json.Marshal(c.Deployment)
	out, err := openai.SetMember(body, "model", m)
	if err != nil {
		return nil, fmt.Errorf("rewrite body: %w", err)
	}
	return out, nil
}

// withStreamUsage asks for stream_options.include_usage when the service
// can give it (inject) and a streaming client did not ask itself.
func withStreamUsage(c Call, body []byte, inject bool) ([]byte, bool, error) {
	if !inject || !c.Stream || c.ClientUsage {
		return body, false, nil
	}
	out, err := openai.WithUsageRequested(body)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// openaiLimits reads the remaining-tokens and retry headers Azure OpenAI
// and OpenAI send.
func openaiLimits(h http.Header) Limits {
	return Limits{RemainingTokens: headerInt(h, "X-Ratelimit-Remaining-Tokens"), RetryAfter: retryAfter(h)}
}

var usageKey = []byte(`"usage"`)

// openaiAnswerUsage finds usage in an OpenAI-shaped answer: it is the last
// member of every such body, so the tail holds it; a full decode is the
// fallback for a whole body of another shape (Responses).
func openaiAnswerUsage(tail []byte, whole bool) (openai.Usage, bool) {
	if raw, ok := lastUsageObject(tail); ok {
		if u, ok := openai.UsageJSON(raw); ok {
			return u, true
		}
	}
	if whole {
		return openai.UsageFromBody(tail)
	}
	return openai.Usage{}, false
}

// lastUsageObject returns the bytes from the last "usage":{ in tail on
// (the object and whatever follows it).
func lastUsageObject(tail []byte) ([]byte, bool) {
	i := bytes.LastIndex(tail, usageKey)
	if i <= 0 || tail[i-1] == '\\' { // an escaped quote is text inside a string
		return nil, false
	}
	rest := bytes.TrimLeft(tail[i+len(usageKey):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return nil, false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '{' {
		return nil, false
	}
	return rest, true
}

// openaiStream reads an OpenAI-shaped stream (chat, completions, Responses).
// Only events that mention usage are decoded; content is found by looking
// at the bytes. When moat injected include_usage, it drops the usage-only
// trailer and the "usage":null members, so the client sees exactly the
// stream it asked for.
type openaiStream struct {
	strip    bool
	usage    bool // the stream ends with usage
	content  bool // content was seen
	rewrites []byte
}

func newOpenAIStream(c Call, injected bool) *openaiStream {
	return &openaiStream{strip: injected, usage: injected || c.ClientUsage || c.Operation.StreamEndsWithUsage}
}

func (s *openaiStream) ReportsUsage() bool { return s.usage }

func (s *openaiStream) Event(ev, name, data []byte) StreamEvent {
	var out StreamEvent
	if !s.content && carriesContent(name, data) {
		s.content, out.FirstContent = true, true
	}
	rewrite, other := s.stripUsageNulls(ev)
	// Only a "usage" member that was not an injected null can be the usage
	// object: every event of an injected stream is read in that one pass.
	if other && hasUsageObject(data) {
		var usageOnly bool
		out.Usage, usageOnly = openai.StreamUsage(string(name), data)
		if s.strip && usageOnly {
			out.Drop = true
			return out
		}
	}
	out.Rewrite = rewrite
	return out
}

// stripUsageNulls walks ev's "usage" members once. When moat injected
// include_usage it cuts out the "usage":null members (in the four shapes of
// usageNulls) and returns the event without them, in a buffer reused from
// event to event; nil when nothing changed. other reports a "usage" member
// left in place, which may be the usage object.
func (s *openaiStream) stripUsageNulls(ev []byte) (rewrite []byte, other bool) {
	buf := s.rewrites[:0]
	last := 0 // ev[:last] is decided: copied to buf or cut
	for at := 0; ; {
		i := bytes.Index(ev[at:], usageKey)
		if i < 0 {
			break
		}
		i += at
		if s.strip {
			if from, to, ok := usageNullAt(ev, i, last); ok {
				buf = append(buf, ev[last:from]...)
				last, at = to, to
				continue
			}
		}
		other = true
		at = i + 1 // keys can share a quote: "usage"usage"
	}
	if last == 0 {
		return nil, other
	}
	buf = append(buf, ev[last:]...)
	s.rewrites = buf
	return buf, other
}

// The "usage":null members added to every chunk when include_usage is on,
// compact (Go, Azure) and spaced (Python servers such as vLLM), each cut
// with the comma before it or, failing that, the one after it.
var usageNulls = [][]byte{[]byte(`,"usage":null`), []byte(`"usage":null,`), []byte(`, "usage": null`), []byte(`"usage": null, `)}

// usageNullAt returns the span of the usageNulls member whose "usage" key
// starts at ev[i], not starting before min; ok is false when there is none.
// A comma before the key is preferred, as the earliest match.
func usageNullAt(ev []byte, i, min int) (from, to int, ok bool) {
	rest := ev[i+len(usageKey):]
	compact := bytes.HasPrefix(rest, []byte(":null")) // null ends at i+12
	spaced := bytes.HasPrefix(rest, []byte(": null")) // null ends at i+13
	switch {
	case compact && i-1 >= min && ev[i-1] == ',':
		return i - 1, i + 12, true
	case spaced && i-2 >= min && ev[i-2] == ',' && ev[i-1] == ' ':
		return i - 2, i + 13, true
	case compact && i+12 < len(ev) && ev[i+12] == ',':
		return i, i + 13, true
	case spaced && i+15 <= len(ev) && ev[i+13] == ',' && ev[i+14] == ' ':
		return i, i + 15, true
	}
	return 0, 0, false
}

// hasUsageObject reports whether data has a "usage" member whose value is an
// object, allowing whitespace around the colon.
func hasUsageObject(data []byte) bool {
	for {
		i := bytes.Index(data, usageKey)
		if i < 0 {
			return false
		}
		rest := bytes.TrimLeft(data[i+7:], " \t")
		if len(rest) > 0 && rest[0] == ':' {
			rest = bytes.TrimLeft(rest[1:], " \t")
			if len(rest) > 0 && rest[0] == '{' {
				return true
			}
		}
		data = data[i+7:]
	}
}

// contentKeys are the members whose non-empty string value is generated
// content in chat and completions chunks.
var contentKeys = [][]byte{[]byte(`"content"`), []byte(`"text"`), []byte(`"arguments"`), []byte(`"refusal"`)}

// carriesContent reports whether a stream event carries generated content:
// a Responses delta event, or a chunk with a non-empty content, text,
// arguments or refusal string. It reads the bytes without decoding them.
func carriesContent(name, data []byte) bool {
	if bytes.HasSuffix(name, []byte(".delta")) && !bytes.Contains(name, []byte("reasoning")) {
		return true
	}
	if bytes.Contains(data, []byte(`"response.output_text.delta"`)) || bytes.Contains(data, []byte(`"response.function_call_arguments.delta"`)) {
		return true
	}
	for _, k := range contentKeys {
		for rest := data; ; {
			i := bytes.Index(rest, k)
			if i < 0 {
				break
			}
			rest = bytes.TrimLeft(rest[i+len(k):], " \t")
			if len(rest) > 0 && rest[0] == ':' {
				v := bytes.TrimLeft(rest[1:], " \t")
				if len(v) > 1 && v[0] == '"' && v[1] != '"' {
					return true
				}
			}
		}
	}
	return false
}
