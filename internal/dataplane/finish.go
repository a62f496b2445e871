package dataplane

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/reqlog"
)

// finish completes the call's accounting and logs it once. Each step is
// its own function, in this order: the error kind, usage counted offline
// when the upstream sent none, the request-log record, metrics, settling
// the limits with real usage, telemetry export, and the sink.
func (p *Pipeline) finish(r *http.Request, s *scope) {
	end := p.now()
	if s.cancelUpstream != nil {
		s.cancelUpstream()
	}
	if s.status == 0 {
		s.status = http.StatusOK
	}
	kind := errorKind(r, s)
	estimated := p.countUsage(r, s)
	rec, logged := p.record(r, s, kind, estimated, end)
	p.observe(s, kind, end)
	p.settle(r.Context(), s)
	p.export(r, s, &rec, end)
	if logged {
		p.sink(rec)
	}
}

// errorKind is the call's error kind: the stage's error if one failed,
// else what the upstream's answer or the stream's end says. A call cut by
// the end of the shutdown grace period is gateway_shutdown, whoever
// noticed first.
func errorKind(r *http.Request, s *scope) httpx.Kind {
	kind := httpx.KindNone
	if s.err != nil {
		kind = s.err.Kind
	}
	if kind == httpx.KindNone {
		switch {
		case s.idleTimedOut.Load():
			kind = httpx.KindUpstreamTimeout
		case s.canceled:
			kind = httpx.KindClientCanceled
		case s.upstreamCut:
			kind = httpx.KindUpstreamError
		case s.upstreamStatus == http.StatusTooManyRequests:
			kind = httpx.KindUpstreamRateLimit
		case s.upstreamStatus == http.StatusUnauthorized || s.upstreamStatus == http.StatusForbidden:
			kind = httpx.KindUpstreamAuth
		case s.upstreamStatus >= 500:
			kind = httpx.KindUpstreamError
		case s.upstreamStatus >= 400:
			kind = httpx.KindClientBadRequest
		}
	}
	if (kind != httpx.KindNone || s.canceled) && errors.Is(context.Cause(r.Context()), httpx.ErrShutdown) {
		// Cut by the end of the grace period, not by the client or upstream.
		kind = httpx.KindGatewayShutdown
	}
	return kind
}

// countUsage counts the call's tokens offline when a successful upstream
// answer reported no usage (a stream without include_usage, or a client
// that left mid-stream): what was sent and what was generated. The client
// may be gone: it counts anyway, bounded by the exact cap. It reports
// whether it estimated.
func (p *Pipeline) countUsage(r *http.Request, s *scope) bool {
	if s.call.Collection != "" && !s.chargeObject {
		// Calls on stored objects, uploads and batch creates are not
		// charged: a response's create was, and a batch's results are when
		// read (objects.go). A retrieve that shows usage does not count it twice.
		s.usage, s.usageSeen = openai.Usage{}, true
	}
	if s.usageSeen || s.deployment == nil || s.upstreamStatus <= 0 || s.upstreamStatus >= 400 {
		return false
	}
	s.usage.PromptTokens, _ = p.promptTokens(context.WithoutCancel(r.Context()), s)
	model := s.deployment.model
	s.usage.CompletionTokens = s.completionEstimate(func(text string) int { return p.tokens.Count(model, text) })
	if s.backgroundCreate() {
		// Answered before generation: the output allowance reserved is
		// what it is charged (docs/limits.md).
		s.usage.CompletionTokens = p.outputAllowance(s)
	}
	s.usage.TotalTokens = s.usage.PromptTokens + s.usage.CompletionTokens
	return true
}

// record builds the call's request-log row, and reports whether it is
// written (calls refused before authentication are sampled).
func (p *Pipeline) record(r *http.Request, s *scope, kind httpx.Kind, estimated bool, end time.Time) (reqlog.Record, bool) {
	rec := reqlog.Record{
		Time:             s.start.UTC(),
		RequestID:        s.id,
		Caller:           s.caller,
		AuthType:         s.authType,
		ClientIP:         s.clientIP.String(),
		Listener:         s.listener,
		Operation:        s.call.Operation.ID,
		APIVersion:       s.call.APIVersion,
		Method:           r.Method,
		Path:             r.URL.Path,
		Status:           s.status,
		UpstreamStatus:   s.upstreamStatus,
		ErrorKind:        string(kind),
		TotalMs:          ms(end.Sub(s.start).Seconds()),
		PromptTokens:     s.usage.PromptTokens,
		CompletionTokens: s.usage.CompletionTokens,
		TotalTokens:      s.usage.TotalTokens,
		TokensEstimated:  estimated,
		Streamed:         s.streamed,
		RequestBytes:     int64(len(s.body)),
		ResponseBytes:    s.respBytes,
		Region:           p.region,
		Replica:          p.replica,
		Attempts:         s.attempts,
		Upstream:         s.upstream,
	}
	msg := errorMessage(s, kind)
	logged := true
	if refusedBeforeAuth(kind, s) {
		msg, logged = p.sampleRefusal(s, kind, msg)
	}
	rec.ErrorMessage = strings.Join(msg, "; ")
	if s.deployment != nil {
		rec.Deployment = s.deployment.name
		rec.Model = s.deployment.model
	}
	if !s.upstreamStart.IsZero() {
		rec.UpstreamMs = ms(s.upstreamHeader.Sub(s.upstreamStart).Seconds())
	}
	if s.firstToken.IsZero() && !s.streamed {
		s.firstToken = s.firstByte // a whole answer arrives at once
	}
	if !s.firstToken.IsZero() {
		rec.FirstTokenMs = ms(s.firstToken.Sub(s.start).Seconds())
	}
	if !s.firstByte.IsZero() {
		rec.FirstByteMs = ms(s.firstByte.Sub(s.start).Seconds())
	}
	p.streamHits(s)
	rec.Guardrail = s.guard.column()
	rec.Headers = callHeaders(r.Header, s.respHeader)
	if p.logsBodies(s) {
		p.logBodies(&rec, s) // redacted before the record leaves this function
	}
	p.spendRecord(r.Context(), s, &rec)
	rec.Bound(p.maxBodyLog) // before telemetry, which reads the record too
	return rec, logged
}

// errorMessage is the record's error text: the cause, then the attempt
// trace when there was a failover or a failure.
func errorMessage(s *scope, kind httpx.Kind) []string {
	var msg []string
	if kind == httpx.KindGatewayShutdown {
		msg = append(msg, httpx.ErrShutdown.Error())
	}
	if s.err != nil && s.err.Err != nil {
		msg = append(msg, s.err.Err.Error())
	}
	if s.attemptLog != "" && (len(msg) > 0 || s.attempts > 1 || kind != httpx.KindNone) {
		msg = append(msg, "attempts: "+s.attemptLog)
	}
	return msg
}

// observe counts the call in the Prometheus metrics.
func (p *Pipeline) observe(s *scope, kind httpx.Kind, end time.Time) {
	depLabel, opLabel := "", s.call.Operation.Name
	if s.deployment != nil {
		depLabel = s.deployment.name
	}
	if !s.upstreamStart.IsZero() {
		p.metrics.upstream.WithLabelValues(s.upstream).Observe(s.upstreamHeader.Sub(s.upstreamStart).Seconds())
	}
	if !s.firstByte.IsZero() {
		p.metrics.ttfb.WithLabelValues(depLabel).Observe(s.firstByte.Sub(s.start).Seconds())
	}
	p.metrics.requests.WithLabelValues(depLabel, opLabel, statusLabel(s.status), string(kind)).Inc()
	p.metrics.duration.WithLabelValues(depLabel, opLabel).Observe(end.Sub(s.start).Seconds())
	if s.usage.TotalTokens > 0 && depLabel != "" {
		p.metrics.tokens.WithLabelValues(depLabel, "prompt").Add(float64(s.usage.PromptTokens))
		p.metrics.tokens.WithLabelValues(depLabel, "completion").Add(float64(s.usage.CompletionTokens))
	}
}

// export ends the call's span with what the record says, when traces or
// metrics are exported over OTLP.
func (p *Pipeline) export(r *http.Request, s *scope, rec *reqlog.Record, end time.Time) {
	if p.tel != nil {
		p.tel.Finish(s.span, telemetryCall(r, s, rec, end))
	}
}

// statusLabels are the metric labels of the status codes, made once.
var statusLabels = func() (l [600]string) {
	for c := 100; c < len(l); c++ {
		l[c] = strconv.Itoa(c)
	}
	return l
}()

// statusLabel is strconv.Itoa(code), without an allocation per call.
func statusLabel(code int) string {
	if code >= 100 && code < len(statusLabels) {
		return statusLabels[code]
	}
	return strconv.Itoa(code)
}

func ms(seconds float64) float64 { return seconds * 1000 }

// NewRequestID returns a random UUID (version 4), the shape Azure uses for
// apim-request-id.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return openai.FormatRequestID(b)
}
