package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/openai"
)

// sseCapture passes a server-sent event stream through event by event. It
// reads usage from the stream and keeps the other events' data to count the
// generated text offline only if no usage arrives; when moat injected
// include_usage, it drops the usage-only trailer and the "usage":null
// members so the client sees exactly the stream it asked for. Only events
// that mention usage are decoded on the way through.
type sseCapture struct {
	src    io.ReadCloser
	s      *scope
	now    func() time.Time
	strip  bool
	in     []byte // bytes read from upstream, not yet split into events
	out    []byte // complete events ready for the client, from off
	off    int
	buf    []byte
	srcErr error
}

func newSSECapture(src io.ReadCloser, s *scope, now func() time.Time) *sseCapture {
	return &sseCapture{src: src, s: s, now: now, strip: s.injectedUsage, buf: make([]byte, 16<<10)}
}

// The "usage":null members added to every chunk when include_usage is on,
// compact (Go, Azure) and spaced (Python servers such as vLLM).
var usageNulls = [][]byte{[]byte(`,"usage":null`), []byte(`"usage":null,`), []byte(`, "usage": null`), []byte(`"usage": null, `)}

// hasUsageObject reports whether data has a "usage" member whose value is an
// object, allowing whitespace around the colon.
func hasUsageObject(data []byte) bool {
	for {
		i := bytes.Index(data, []byte(`"usage"`))
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

func (c *sseCapture) Read(p []byte) (int, error) {
	for c.off == len(c.out) {
		c.out, c.off = c.out[:0], 0
		if c.srcErr != nil {
			if len(c.in) > 0 {
				// A trailing partial event (stream cut mid-event) is passed on as is.
				c.out = append(c.out, c.in...)
				c.in = c.in[:0]
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
	n := copy(p, c.out[c.off:])
	c.off += n
	return n, nil
}

// drain moves complete events from in to out, inspecting each.
func (c *sseCapture) drain() {
	rest := c.in
	for {
		end := openai.SplitEvent(rest)
		if end < 0 {
			break
		}
		ev := rest[:end]
		rest = rest[end:]
		name, data := openai.EventData(ev)
		if hasUsageObject(data) {
			chunk := openai.ParseStreamChunk(name, data)
			if chunk.Usage != nil {
				c.s.usage, c.s.usageSeen = *chunk.Usage, true
			}
			if c.strip && chunk.UsageOnly {
				continue
			}
		}
		c.s.streamData = append(c.s.streamData, append([]byte(name+"\x00"), data...))
		if c.strip && bytes.Contains(ev, []byte(`"usage"`)) {
			for _, n := range usageNulls {
				ev = bytes.ReplaceAll(ev, n, nil)
			}
		}
		c.out = append(c.out, ev...)
	}
	c.in = append(c.in[:0], rest...)
}

func (c *sseCapture) Close() error { return c.src.Close() }

// streamText decodes the generated text of the stream's events, for offline
// counting and body logging.
func (s *scope) streamText() string {
	var b strings.Builder
	for _, d := range s.streamData {
		name, data, _ := bytes.Cut(d, []byte{0})
		b.WriteString(openai.ParseStreamChunk(string(name), data).Text)
	}
	return b.String()
}

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
		limit := captureTail
		if c.keepBody {
			limit = captureHeadLimit + captureTail
		}
		if len(c.keep) > limit {
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
	// usage is the last member of every OpenAI-shaped body, so the tail
	// holds it; a full decode is the fallback for other shapes.
	u, ok = usageFromTail(c.keep)
	if !ok && !c.overflow {
		u, ok = openai.UsageFromBody(c.keep)
	}
	if c.keepBody && !c.overflow {
		c.s.respBody = c.keep
	}
	if ok {
		c.s.usage, c.s.usageSeen = u, true
	}
}

// usageFromTail finds the last "usage":{…} object in the tail of a large body.
func usageFromTail(tail []byte) (openai.Usage, bool) {
	i := bytes.LastIndex(tail, []byte(`"usage"`))
	if i <= 0 || tail[i-1] == '\\' { // an escaped quote is text inside a string
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
