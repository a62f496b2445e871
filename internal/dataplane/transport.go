package dataplane

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/moat-gw/moat/internal/route"
	"github.com/moat-gw/moat/internal/upstream"
)

// callTransport sends a call to its deployment's pool: it walks the
// candidates the routing policy returns (priority tiers, weights, benched
// and tripped members left out), replays the buffered body to each, and
// fails over on connect errors, timeouts, 429 and 5xx. Failover happens only
// here, before ReverseProxy has written anything to the client, so no call is
// ever retried after its first byte reached the client.
type callTransport struct{ p *Pipeline }

func (ct *callTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	s := scopeFrom(r.Context())
	if s == nil {
		return nil, fmt.Errorf("call without scope")
	}
	p, dep := ct.p, s.deployment
	var names [4]string // room for the usual pool: the list stays on the stack
	cands, err := p.candidates(s, names[:0])
	if err != nil {
		return nil, err // *route.Unavailable: every member benched or tripped
	}
	if len(cands) > p.maxAttempts {
		cands = cands[:p.maxAttempts]
	}
	if int64(len(s.body)) > p.maxRetry {
		cands = cands[:1] // too large to keep for replay: one attempt only
	}
	for i, name := range cands {
		m := dep.members[name]
		start := p.now()
		resp, err := ct.attempt(r, s, m, i == len(cands)-1)
		out := outcomeOf(m.target, resp, err)
		dep.pool.Observe(name, out, p.now())
		s.noteAttempt(name, out, p.now().Sub(start))
		p.metrics.attempts.WithLabelValues(name, attemptOutcome(out)).Inc()
		if i == len(cands)-1 || r.Context().Err() != nil || !route.Retryable(out.Status, err) {
			return resp, err
		}
		if resp != nil {
			_, _ = io.CopyN(io.Discard, resp.Body, 64<<10) // lets the connection be reused
			resp.Body.Close()
		}
	}
	panic("unreachable")
}

// attempt sends the call to one pool member. r is ReverseProxy's
// outbound request, made for this call alone: an attempt changes the
// headers of a copy, so that the next attempt starts from r's, except the
// last, which nothing comes after and which changes r's own (a call with
// one candidate copies no headers).
func (ct *callTransport) attempt(r *http.Request, s *scope, m poolMember, last bool) (*http.Response, error) {
	t := m.target
	uc := upstream.Call{Operation: s.call.Operation, Deployment: m.upstream, APIVersion: s.call.APIVersion,
		Stream: s.req.Stream, ClientUsage: s.req.WantsUsageChunk(), Path: s.call.UpstreamPath, Query: s.call.Query}
	body, injected, err := t.Body(uc, s.body)
	if err != nil {
		return nil, err
	}
	if s.cancelUpstream != nil {
		s.cancelUpstream() // the previous attempt is over
	}
	ctx, cancel := context.WithCancel(r.Context())
	s.cancelUpstream = cancel
	var out *http.Request
	if last {
		out = r.WithContext(ctx) // shares r's header map
	} else {
		out = r.Clone(ctx)
	}
	out.URL = t.URL(uc)
	out.Host = out.URL.Host
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	out.ContentLength = int64(len(body))
	// The transports write Content-Length from ContentLength and never
	// from the header (HTTP/1 and HTTP/2 both skip it): the client's own,
	// stale once the body is rewritten, goes rather than being replaced.
	out.Header.Del("Content-Length")
	out.Header.Del("Accept-Encoding") // usage must be readable; the transport negotiates gzip itself
	if ct.p.tel != nil {
		ct.p.tel.Inject(s.span, out.Header) // the upstream's trace joins the call's
	}
	s.upstream, s.member, s.upstreamCall, s.injectedUsage = t.Name(), m, uc, injected
	s.attempts++
	if err := t.Authorize(ctx, out, uc); err != nil {
		return nil, err
	}
	s.upstreamStart = ct.p.now()
	resp, err := t.Transport().RoundTrip(out)
	s.upstreamHeader = ct.p.now()
	if err == nil {
		s.upstreamStatus = resp.StatusCode
	}
	return resp, err
}

// outcomeOf reads what the routing policy learns from an attempt; the
// target's protocol reads the limits its headers carry.
func outcomeOf(t *upstream.Target, resp *http.Response, err error) route.Outcome {
	if err != nil {
		return route.Outcome{Err: err, RemainingTokens: -1}
	}
	l := t.Limits(resp.Header)
	return route.Outcome{Status: resp.StatusCode, RemainingTokens: l.RemainingTokens, RetryAfter: l.RetryAfter}
}

func attemptOutcome(o route.Outcome) string {
	switch {
	case o.Err != nil:
		return "error"
	case o.Status == http.StatusTooManyRequests:
		return "throttled"
	case o.Status >= 500:
		return "server_error"
	default:
		return strconv.Itoa(o.Status/100) + "xx"
	}
}

// noteAttempt keeps a compact trace of the attempts for the request log,
// written in a buffer on the stack: one allocation, the string kept.
func (s *scope) noteAttempt(name string, o route.Outcome, took time.Duration) {
	var buf [128]byte
	b := buf[:0]
	if len(s.attemptLog) > 0 {
		b = append(b, s.attemptLog...)
		b = append(b, "; "...)
	}
	b = append(b, name...)
	b = append(b, ' ')
	if o.Err != nil {
		b = append(b, "error"...)
	} else {
		b = strconv.AppendInt(b, int64(o.Status), 10)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, took.Milliseconds(), 10)
	b = append(b, "ms"...)
	if o.RetryAfter > 0 {
		b = append(b, " retry-after="...)
		b = append(b, o.RetryAfter.String()...)
	}
	s.attemptLog = string(b)
}
