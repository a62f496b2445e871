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
	body, err := readBounded(http.MaxBytesReader(w, r.Body, p.maxBody), r.ContentLength, p.maxBody)
	if deadline && err == nil {
		// Only on success: after a failed read net/http may drain what is
		// left of the body, and the expired deadline keeps that from
		// waiting on a trickling client.
		_ = rc.SetReadDeadline(time.Time{})
	}
	return body, err
}

// readBounded is io.ReadAll sized by the request's Content-Length, when it
// has one within max: one allocation of the body's size (and a byte to
// see the end), where io.ReadAll starts at 512 bytes and grows, copying.
// Only presizeMax is taken on the client's word before bytes arrive:
// a body announced larger grows as it comes, so that headers alone (an
// announced 25 MiB, then a trickle) cannot make moat hold the memory.
func readBounded(rd io.Reader, contentLength, max int64) ([]byte, error) {
	if contentLength < 0 || contentLength > max {
		return io.ReadAll(rd)
	}
	b := make([]byte, 0, min(contentLength, presizeMax)+1)
	for {
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) { // more than announced: let append grow it
			b = append(b, 0)[:len(b)]
		}
	}
}

// presizeMax is the most readBounded allocates before the body arrives.
const presizeMax = 256 << 10

// errBodyTimeout is the answer to a body that did not arrive in time:
// Azure's front-door envelope with status 408. The connection is closed,
// since the rest of the body may still be on its way.
func errBodyTimeout(limit time.Duration, cause error) error {
	return httpx.FrontDoor(http.StatusRequestTimeout, httpx.KindClientTimeout,
		"408", fmt.Sprintf("The request body was not received within %s. Send the whole body promptly and try again.", limit),
		fmt.Errorf("request body not received within %s: %w", limit, cause)).WithHeader("Connection", "close")
}
