package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/moat-gw/moat/internal/openai"
)

// sseCapture passes a server-sent event stream through event by event. It
// reads usage from the stream, keeps the generated text for offline counting,
// and, when moat injected include_usage, drops the usage-only trailer and the
// "usage":null members so the client sees exactly the stream it asked for.
type sseCapture struct {
	src    io.ReadCloser
	s      *scope
	now    func() time.Time
	strip  bool
	in     []byte // bytes read from upstream, not yet split into events
	out    []byte // complete events ready for the client
	buf    []byte
	srcErr error
}

func newSSECapture(src io.ReadCloser, s *scope, now func() time.Time) *sseCapture {
	return &sseCapture{src: src, s: s, now: now, strip: s.injectedUsage, buf: make([]byte, 32<<10)}
}

var (
	usageNullA = []byte(`,"usage":null`)
	usageNullB = []byte(`"usage":null,`)
)

func (c *sseCapture) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.srcErr != nil {
			if len(c.in) > 0 {
				// A trailing partial event (stream cut mid-event) is passed on as is.
				c.out, c.in = c.in, nil
				break
			}
			return 0, c.srcErr
		}
		n, err := c.src.Read(c.buf)
		if n > 0 {
			if c.s.firstByte.IsZero() {
				c.s.firstByte = c.now()
			}
			c.in = append(c.in, c.buf[:n]...)
			c.drain()
		}
		if err != nil {
			c.srcErr = err
			if !errors.Is(err, io.EOF) {
				c.s.readFailed()
			}
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	if len(c.out) == 0 {
		c.out = nil
	}
	return n, nil
}

// drain moves complete events from in to out, inspecting each.
func (c *sseCapture) drain() {
	for {
		end := openai.SplitEvent(c.in)
		if end < 0 {
			return
		}
		ev := c.in[:end]
		c.in = c.in[end:]
		name, data := openai.EventData(ev)
		chunk := openai.ParseStreamChunk(name, data)
		if chunk.Usage != nil {
			c.s.usage, c.s.usageSeen = *chunk.Usage, true
		}
		c.s.completionText = append(c.s.completionText, chunk.Text...)
		if c.strip {
			if chunk.UsageOnly {
				continue
			}
			if bytes.Contains(ev, usageNullA[1:]) {
				ev = bytes.ReplaceAll(ev, usageNullA, nil)
				ev = bytes.ReplaceAll(ev, usageNullB, nil)
			}
		}
		c.out = append(c.out, ev...)
	}
}

func (c *sseCapture) Close() error { return c.src.Close() }

// jsonCapture passes a JSON body through while keeping enough of it to read
// usage at the end: the whole body up to headLimit, then only a tail.
type jsonCapture struct {
	src      io.ReadCloser
	s        *scope
	now      func() time.Time
	keep     []byte
	overflow bool
	done     bool
	keepBody bool
}

const (
	captureHeadLimit = 1 << 20
	captureTail      = 64 << 10
)

func newJSONCapture(src io.ReadCloser, s *scope, now func() time.Time, keepBody bool) *jsonCapture {
	return &jsonCapture{src: src, s: s, now: now, keepBody: keepBody}
}

func (c *jsonCapture) Read(p []byte) (int, error) {
	n, err := c.src.Read(p)
	if n > 0 {
		if c.s.firstByte.IsZero() {
			c.s.firstByte = c.now()
		}
		c.keep = append(c.keep, p[:n]...)
		if len(c.keep) > captureHeadLimit+captureTail {
			c.overflow = true
			c.keep = append(c.keep[:0], c.keep[len(c.keep)-captureTail:]...)
		}
	}
	if err != nil && !c.done {
		c.done = true
		if errors.Is(err, io.EOF) {
			c.finish()
		} else {
			c.s.readFailed()
		}
	}
	return n, err
}

func (c *jsonCapture) finish() {
	var (
		u  openai.Usage
		ok bool
	)
	if c.overflow {
		u, ok = usageFromTail(c.keep)
	} else {
		u, ok = openai.UsageFromBody(c.keep)
		if c.keepBody {
			c.s.respBody = c.keep
		}
	}
	if ok {
		c.s.usage, c.s.usageSeen = u, true
	}
}

// usageFromTail finds the last "usage":{…} object in the tail of a large body.
func usageFromTail(tail []byte) (openai.Usage, bool) {
	i := bytes.LastIndex(tail, []byte(`"usage"`))
	if i < 0 {
		return openai.Usage{}, false
	}
	j := bytes.IndexByte(tail[i:], '{')
	if j < 0 {
		return openai.Usage{}, false
	}
	var obj json.RawMessage
	if json.NewDecoder(bytes.NewReader(tail[i+j:])).Decode(&obj) != nil {
		return openai.Usage{}, false
	}
	return openai.UsageFromBody(append(append([]byte(`{"usage":`), obj...), '}'))
}

func (c *jsonCapture) Close() error { return c.src.Close() }
