package dataplane

import (
	"context"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/moat-gw/moat/internal/affinity"
	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/ratelimit"
	"github.com/moat-gw/moat/internal/upstream"
)

// scope is the one per-request state, filled by the stages in order and
// logged once when the call ends (oauth2-proxy's RequestScope).
type scope struct {
	id       string
	start    time.Time
	listener string
	api      openai.API // the client API, from the path: it shapes every answer
	clientIP netip.Addr

	caller    string
	authType  string
	principal *auth.Principal

	call       Call
	deployment *deployment
	body       []byte
	req        *openai.Request
	// injectedUsage is true when moat asked the upstream for stream usage
	// that the client did not request, so the usage chunk must be hidden.
	injectedUsage  bool
	promptEstimate int
	promptCounted  bool
	promptErr      error // the context ended while the prompt was counted

	upstream       string
	member         poolMember
	upstreamCall   upstream.Call   // the last attempt's call, as its target saw it
	stream         upstream.Stream // the reader of a streamed answer
	pinned         string          // the only member to call: it holds the object (objects.go)
	pinKind        affinity.Kind
	chargeObject   bool // a batch's results are read: their usage is charged
	upstreamStatus int
	attempts       int
	attemptLog     string
	cancelUpstream context.CancelFunc
	idleTimedOut   atomic.Bool
	reservation    *ratelimit.Reservation
	loose          *looseCall // the reservation holds a prompt bound (admission.go)
	upstreamStart  time.Time
	upstreamHeader time.Time
	firstByte      time.Time
	// firstToken is when the first generated content arrived: the first
	// stream event carrying text or tool-call arguments (a stream opens with
	// Azure's prompt-filter event, which is not a token), else the first byte.
	firstToken time.Time

	status    int
	err       *httpx.Error
	streamed  bool
	respBytes int64
	usage     openai.Usage
	usageSeen bool
	// streamData holds the names and data of streamed events, each with its
	// length in front (appendFrame), decoded
	// only if the stream ends without usage or bodies are logged.
	streamData      []byte
	streamEvents    int  // events passed through, kept or not
	canceled        bool // the client went away
	upstreamCut     bool // the upstream broke the response off
	clientRequestID string
	idHeader        []string // id as a header value (headers.go), shared by the answer's ID headers
	// respHeader is the answer's header map, read when the call is logged.
	respHeader http.Header
	clientCtx  context.Context // the client's request context, to tell who broke a response off
	respBody   []byte
	span       trace.Span // the call's span when traces are exported, else nil
	guard      guardState // what the guardrails found (guard.go)
	spend      spendScope // attribution, cost and budgets (spend.go)
}

type scopeCtxKey struct{}

func withScope(ctx context.Context, s *scope) context.Context {
	return context.WithValue(ctx, scopeCtxKey{}, s)
}

func scopeFrom(ctx context.Context) *scope {
	s, _ := ctx.Value(scopeCtxKey{}).(*scope)
	return s
}

// readFailed records why reading the upstream's response failed: the
// client leaving cancels the call (client_canceled); otherwise the upstream
// broke the response off (upstream_error).
func (s *scope) readFailed() {
	if s.clientCtx != nil && s.clientCtx.Err() != nil {
		s.canceled = true
		return
	}
	s.upstreamCut = true
}

// completionText is what the call generated as far as moat kept it, for
// offline counting when the upstream reported no usage. A stream whose text
// was not kept (usage was expected, but the client left first) counts one
// token per event: Azure and OpenAI stream about one token per chunk, so
// this errs high, which is the safe side for a limit.
func (s *scope) completionEstimate(count func(string) int) int {
	if s.streamed && len(s.streamData) == 0 && s.streamEvents > 0 {
		return s.streamEvents
	}
	return count(s.streamText())
}
