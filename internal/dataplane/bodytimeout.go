package dataplane

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/moat-gw/moat/internal/httpx"
)

// readAll reads the request body within limits.max_body_bytes and
// limits.body_read_timeout. The timeout is a read deadline on the
// connection, so a client that trickles its body (a byte now and then,
// never idle long enough for a per-read timeout) is cut when the whole body
// is late; the deadline is lifted once the body is in, because the
// connection may serve further requests. Deadlines are wall-clock: they act on a socket.
func (p *Pipeline) readAll(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rc := http.NewResponseController(w)
	deadline := p.bodyTimeout > 0 && rc.SetReadDeadline(time.Now().Add(p.bodyTimeout)) == nil
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.maxBody))
	if deadline && err == nil {
		// Only on success: after a failed read net/http may drain what is
		// left of the body, and the expired deadline keeps that from
		// waiting on a trickling client.
		_ = rc.SetReadDeadline(time.Time{})
	}
	return body, err
}

// errBodyTimeout is the answer to a body that did not arrive in time:
// Azure's front-door envelope with status 408. The connection is closed,
// since the rest of the body may still be on its way.
func errBodyTimeout(limit time.Duration, cause error) error {
	return httpx.FrontDoor(http.StatusRequestTimeout, httpx.KindClientTimeout,
		"408", fmt.Sprintf("The request body was not received within %s. Send the whole body promptly and try again.", limit),
		fmt.Errorf("request body not received within %s: %w", limit, cause)).WithHeader("Connection", "close")
}
