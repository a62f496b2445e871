package upstream

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/openai"
)

// Protocol is how moat speaks to one type of model service. Everything that
// depends on the service's wire protocol lives behind it: where a call goes,
// how its body and headers change on the way, what the answer's headers say
// about the service's limits, and where usage is in a plain answer and in a
// stream. The request path asks the protocol and knows no service's bytes,
// so adding a service type is one file in this package (Envoy AI Gateway's
// translators, one per backend schema; Caddy's fastcgi transport, a
// RoundTripper that speaks another protocol behind the same proxy).
//
// Implementations are stateless values, safe for concurrent use; per-answer
// state lives in the Stream a protocol returns.
type Protocol interface {
	// Type is the config type that selects the protocol.
	Type() Type
	// Spec is what config needs to know to validate and default an
	// upstream of this type.
	Spec() Spec
	// Provider is the service's gen_ai.provider.name for telemetry.
	Provider() string
	// Serves reports whether the service can answer op. Operations of
	// another API family are refused: moat does not translate.
	Serves(op openai.Operation) bool
	// URL is where c goes.
	URL(e Endpoint, c Call) *url.URL
	// Body adapts the client's body for the service. injected reports that
	// it asked for stream usage the client did not ask for, which the
	// answer's Stream then hides.
	Body(e Endpoint, c Call, body []byte) (out []byte, injected bool, err error)
	// KeyAuth presents an API key the way the service expects it.
	KeyAuth(key string) Authenticator
	// Header sets the protocol's own request headers for c (a version
	// header); credentials are set afterwards by the Authenticator.
	Header(h http.Header, c Call)
	// ScrubHeader removes from an answer's headers what names the
	// service's account (organization or project IDs): clients see moat,
	// not the account behind it.
	ScrubHeader(h http.Header)
	// Limits reads what an answer's headers say about the service's limits,
	// which failover uses to bench a member.
	Limits(h http.Header) Limits
	// AnswerUsage reads usage from a plain (JSON) answer to op. tail is the
	// end of the body; whole is true when tail is the whole body.
	AnswerUsage(op openai.Operation, tail []byte, whole bool) (openai.Usage, bool)
	// NewStream returns the reader of one streamed answer to c; injected
	// is what Body returned.
	NewStream(c Call, injected bool) Stream
	// StreamText is the generated text of one kept stream event, for
	// offline counting and body logging.
	StreamText(name, data []byte) string
}

// Stream reads one streamed answer event by event, in order.
type Stream interface {
	// Event inspects one complete event: ev is its bytes, name its event:
	// field and data its data.
	Event(ev, name, data []byte) StreamEvent
	// ReportsUsage tells whether the stream will carry usage of its own.
	// When it will not, the gateway keeps the text to count it offline.
	ReportsUsage() bool
}

// StreamEvent is what one event means to the gateway.
type StreamEvent struct {
	// Usage is the call's usage so far, when the event carries some.
	Usage *openai.Usage
	// FirstContent marks the first event that carries generated content:
	// the call's time to first token.
	FirstContent bool
	// Drop removes the event from the client's stream (the usage chunk
	// moat asked for on the client's behalf).
	Drop bool
	// Rewrite, when not nil, replaces the event's bytes. It is valid until
	// the next call of Event.
	Rewrite []byte
}

// Limits are what an answer's headers say about the service's limits.
type Limits struct {
	// RemainingTokens is the service's remaining token budget, -1 if unknown.
	RemainingTokens int
	// RetryAfter is how long the service asks callers to wait; 0 if unsaid.
	RetryAfter time.Duration
}

// Endpoint is the per-upstream configuration a protocol builds URLs and
// bodies from.
type Endpoint struct {
	// Base is the configured endpoint or base URL, with an absolute path.
	Base *url.URL
	// APIVersion is the dated api-version for services that take one.
	APIVersion string
	// StreamUsage allows asking the service for stream usage.
	StreamUsage bool
}

// URLField names the config field that locates the service.
type URLField string

// URL fields.
const (
	URLNone     URLField = ""         // the in-process simulator
	URLEndpoint URLField = "endpoint" // an Azure resource endpoint
	URLBaseURL  URLField = "base_url" // a base URL the operation path is appended to
)

// Spec is what config knows about a type.
type Spec struct {
	// URL is the field that locates the service.
	URL URLField
	// KeyRequired: the service needs an api_key.
	KeyRequired bool
	// Entra: the service takes Entra ID tokens (auth: managed_identity, …),
	// requested for DefaultScope unless scope is set.
	Entra        bool
	DefaultScope string
	// DatedAPIVersion: api_version is a dated version the service takes.
	DatedAPIVersion bool
	// Deployments: the service names deployments in its paths (Azure's
	// deployment-scoped API).
	Deployments bool
}

// protocols is the table of upstream types. It is a function so that the
// table is immutable: adding a protocol is its file and one row here.
func protocols() []Protocol {
	return []Protocol{azure{}, openaiProtocol{typ: TypeOpenAI}, openaiProtocol{typ: TypeOpenAICompatible}, simulator{}, anthropic{}}
}

// Lookup finds the protocol of a type.
func Lookup(t Type) (Protocol, bool) {
	for _, p := range protocols() {
		if p.Type() == t {
			return p, true
		}
	}
	return nil, false
}

// Types lists the upstream types, for config errors and docs.
func Types() []Type {
	var out []Type
	for _, p := range protocols() {
		out = append(out, p.Type())
	}
	return out
}

// TypeList is Types as "a, b or c", for messages.
func TypeList() string {
	ts := Types()
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = string(t)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// scrubOpenAI removes the headers that name the OpenAI account behind an
// answer.
func scrubOpenAI(h http.Header) {
	h.Del("Openai-Organization")
	h.Del("Openai-Project")
}

// objectURL is the URL of a call on a stored object (c.Path, such as
// "files/file-1/content"), below root on the service. Its segments are
// escaped here, since joinPath takes escaped segments.
func objectURL(base *url.URL, root []string, c Call) *url.URL {
	segs := strings.Split(c.Path, "/")
	for i, sg := range segs {
		segs[i] = url.PathEscape(sg)
	}
	u := joinPath(base, append(append([]string(nil), root...), segs...)...)
	if len(c.Query) > 0 {
		u.RawQuery = c.Query.Encode()
	}
	return u
}

// retryAfter reads Retry-After-Ms (Azure OpenAI) or Retry-After in seconds.
func retryAfter(h http.Header) time.Duration {
	ms, sec := h.Get("Retry-After-Ms"), h.Get("Retry-After")
	if ms == "" && sec == "" { // absent headers are not parsed: a failed parse allocates its error
		return 0
	}
	if v, err := strconv.ParseFloat(ms, 64); err == nil && v > 0 {
		return time.Duration(v * float64(time.Millisecond))
	}
	if v, err := strconv.Atoi(sec); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return 0
}

// headerInt reads the first of names that holds a non-negative integer, or -1.
func headerInt(h http.Header, names ...string) int {
	for _, n := range names {
		s := h.Get(n)
		if s == "" {
			continue
		}
		if v, err := strconv.Atoi(s); err == nil && v >= 0 {
			return v
		}
	}
	return -1
}
