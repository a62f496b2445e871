package dataplane

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/reqlog"
)

// finish completes the call's accounting and logs it once: usage (offline
// count when the upstream sent none), metrics, and the request-log record.
func (p *Pipeline) finish(r *http.Request, s *scope) {
	end := p.now()
	if s.cancelUpstream != nil {
		s.cancelUpstream()
	}
	if s.status == 0 {
		s.status = http.StatusOK
	}
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
	estimated := false
	if !s.usageSeen && s.deployment != nil && s.upstreamStatus > 0 && s.upstreamStatus < 400 {
		// No usage from upstream (a stream without include_usage, or a
		// client that left mid-stream): count what was sent and generated.
		// The client may be gone: count anyway, bounded by the exact cap.
		s.usage.PromptTokens, _ = p.promptTokens(context.WithoutCancel(r.Context()), s)
		model := s.deployment.model
		s.usage.CompletionTokens = s.completionEstimate(func(text string) int { return p.tokens.Count(model, text) })
		s.usage.TotalTokens = s.usage.PromptTokens + s.usage.CompletionTokens
		estimated = true
	}
	depLabel, opLabel := "", s.call.Operation.Name
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
	// The cause, then the attempt trace when there was a failover or a failure.
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
	logged := true
	if refusedBeforeAuth(kind, s) {
		msg, logged = p.sampleRefusal(s, kind, msg)
	}
	rec.ErrorMessage = strings.Join(msg, "; ")
	if s.deployment != nil {
		depLabel = s.deployment.name
		rec.Deployment = s.deployment.name
		rec.Model = s.deployment.model
	}
	if !s.upstreamStart.IsZero() {
		rec.UpstreamMs = ms(s.upstreamHeader.Sub(s.upstreamStart).Seconds())
		p.metrics.upstream.WithLabelValues(s.upstream).Observe(s.upstreamHeader.Sub(s.upstreamStart).Seconds())
	}
	if s.firstToken.IsZero() && !s.streamed {
		s.firstToken = s.firstByte // a whole answer arrives at once
	}
	if !s.firstToken.IsZero() {
		rec.FirstTokenMs = ms(s.firstToken.Sub(s.start).Seconds())
	}
	if !s.firstByte.IsZero() {
		rec.FirstByteMs = ms(s.firstByte.Sub(s.start).Seconds())
		p.metrics.ttfb.WithLabelValues(depLabel).Observe(s.firstByte.Sub(s.start).Seconds())
	}
	if p.logBodies {
		rec.RequestBody = reqlog.TruncatedBytes(s.body, p.maxBodyLog)
		if s.streamed {
			rec.ResponseBody = s.streamText()
		} else {
			rec.ResponseBody = reqlog.TruncatedBytes(s.respBody, p.maxBodyLog)
		}
	}
	rec.Bound(p.maxBodyLog) // before telemetry, which reads the record too
	p.metrics.requests.WithLabelValues(depLabel, opLabel, strconv.Itoa(s.status), string(kind)).Inc()
	p.metrics.duration.WithLabelValues(depLabel, opLabel).Observe(end.Sub(s.start).Seconds())
	if s.usage.TotalTokens > 0 && depLabel != "" {
		p.metrics.tokens.WithLabelValues(depLabel, "prompt").Add(float64(s.usage.PromptTokens))
		p.metrics.tokens.WithLabelValues(depLabel, "completion").Add(float64(s.usage.CompletionTokens))
	}
	p.settle(r.Context(), s)
	if p.tel != nil {
		p.tel.Finish(s.span, telemetryCall(r, s, &rec, end))
	}
	if logged {
		p.sink(rec)
	}
}

func ms(seconds float64) float64 { return seconds * 1000 }

// NewRequestID returns a random UUID (version 4), the shape Azure uses for
// apim-request-id.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return openai.FormatRequestID(b)
}
