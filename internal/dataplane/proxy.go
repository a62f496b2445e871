package dataplane

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/route"
	"github.com/moat-gw/moat/internal/upstream"
)

// newProxy builds the ReverseProxy shared by all calls of a pipeline. The
// target of each call is chosen in the Transport, so Rewrite only scrubs
// what must never travel upstream.
func (p *Pipeline) newProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// Client credentials and forwarding headers stay inside moat.
			for _, h := range []string{"Api-Key", "Authorization", "X-Api-Key", "Forwarded", "X-Forwarded-For",
				"X-Forwarded-Host", "X-Forwarded-Proto", "Cookie"} {
				pr.Out.Header.Del(h)
			}
		},
		Transport: &callTransport{p: p},
		// Zero: ReverseProxy flushes a text/event-stream answer, or one of
		// unknown length, after every write anyway, so streams go event by
		// event; an answer of known length is flushed once, when the proxy
		// is done (flushAnswer), so a small one goes out in one write,
		// headers and body together, as from a bare proxy (-1 cost two more
		// write syscalls and a timer per call).
		FlushInterval:  0,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.proxyError,
		ErrorLog:       log.New(slogWriter{p.log}, "", 0),
		BufferPool:     newBufferPool(),
	}
}

// modifyResponse sets Azure's headers and wraps the body to capture usage.
func (p *Pipeline) modifyResponse(resp *http.Response) error {
	s := scopeFrom(resp.Request.Context())
	h := resp.Header
	p.upstreamHeaders(h, s)
	s.status = resp.StatusCode
	p.recordPin(resp, s)
	if err := p.guardAnswer(resp, s); err != nil {
		return err
	}
	if s.member.idle > 0 {
		resp.Body = newIdleBody(resp.Body, s.member.idle, s)
	}
	ct := h.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "text/event-stream"):
		s.streamed = true
		s.stream = s.member.target.NewStream(s.upstreamCall, s.injectedUsage)
		// The text is kept only for a body log, or for counting offline a
		// stream that will not report its usage.
		retain := p.logsBodies(s) || !s.stream.ReportsUsage()
		resp.Body = newSSECapture(resp.Body, s, p.now, s.stream, retain)
		if s.injectedUsage {
			// Stripping changes the length; the stream is chunked anyway.
			h.Del("Content-Length")
			resp.ContentLength = -1
		}
	case strings.HasPrefix(ct, "application/json"):
		resp.Body = newJSONCapture(resp.Body, s, p.now, p.logsBodies(s))
	default:
		resp.Body = &countingBody{ReadCloser: resp.Body, s: s, now: p.now}
	}
	return nil
}

// proxyError answers when the upstream could not be called at all.
func (p *Pipeline) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	s := scopeFrom(r.Context())
	var he *httpx.Error
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		he = httpx.Gone(httpx.KindClientCanceled, err)
		s.canceled = true
	case errors.As(err, new(*route.Unavailable)):
		var u *route.Unavailable
		errors.As(err, &u)
		he = u.HTTPError()
		he.Err = err
	case upstream.IsAuthError(err):
		he = httpx.Internal(http.StatusInternalServerError, httpx.KindUpstreamAuth, err)
	case isTimeout(err):
		he = httpx.FrontDoor(http.StatusGatewayTimeout, httpx.KindUpstreamTimeout, "504", openai.MsgGatewayTimeout, err)
	default:
		he = httpx.FrontDoor(http.StatusBadGateway, httpx.KindUpstreamUnreachble, "502", openai.MsgServiceUnavailable, err)
	}
	he = render(s.api, he)
	s.err, s.status = he, he.Status
	if he.Status == 499 {
		return // nobody is listening
	}
	p.answerHeaders(w.Header(), s)
	httpx.WriteError(w, p.renderer(s), he)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// countingBody records the first byte and the size of bodies that are
// neither JSON nor SSE (audio). Each body reader counts the bytes it hands
// the client itself, which spares every call a wrapper.
type countingBody struct {
	io.ReadCloser
	s   *scope
	now func() time.Time
}

func (c *countingBody) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.s.respBytes += int64(n)
	if n > 0 && c.s.firstByte.IsZero() {
		c.s.firstByte = c.now()
	}
	if err != nil && !errors.Is(err, io.EOF) {
		c.s.readFailed()
	}
	return n, err
}

// slogWriter routes ReverseProxy's own log lines to slog at debug level:
// they repeat what the request log already records.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(b []byte) (int, error) {
	w.l.Debug("reverse proxy", "msg", strings.TrimSpace(string(b)))
	return len(b), nil
}
