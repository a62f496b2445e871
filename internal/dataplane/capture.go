package dataplane

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/upstream"
)

// sseCapture passes a server-sent event stream through event by event. It
// knows server-sent events, not what they mean: the upstream's protocol
// (an upstream.Stream) reads usage and the first token from each event and
// says which events to drop or rewrite (the usage moat asked for on the
// client's behalf).
//
// Upstream is read straight into the caller's slice (the ReverseProxy's
// pooled copy buffer) and events are split and passed there in place: an
// unchanged event is not copied at all, a dropped or shortened one closes
// the gap. Only what cannot stay there (an event cut by the read, a
// rewrite longer than the event) goes to the capture's own buffer, taken
// from a pool and given back as soon as it is empty, so that a stream
// waiting on its upstream holds none.
//
// Event data is kept for the whole stream only when something will need
// it: bodies are logged, or the stream is not expected to report its own
// usage, so that the generated text must be counted offline.
type sseCapture struct {
	src    io.ReadCloser
	s      *scope
	now    func() time.Time
	proto  upstream.Stream
	retain bool // keep event data in s.streamData

	buf    []byte // bytes from upstream held over; buf[head:ready] is ready for the client
	head   int
	ready  int
	seen   int    // bytes of buf[ready:] already searched for an event's end
	edit   []byte // a rewritten event to hand out before buf[head:]
	pend   pending
	srcErr error
	cut    bool // a guardrail ended the stream: nothing after the final chunk
}

// pending is an inspected event at buf[ready:] that is dropped or rewritten
// once everything before it has been handed out.
type pending struct {
	end     int // its length; 0 when there is none
	keep    bool
	rewrite []byte
}

// sseBufSize is the capture's own buffer; it grows only for a single event
// larger than it.
const sseBufSize = 16 << 10

// sseBufs recycles the capture buffers of sseBufSize, held as array
// pointers: a slice converts to one without allocating, where a *[]byte
// would cost an allocation on every Put.
var sseBufs = sync.Pool{New: func() any { return new([sseBufSize]byte) }}

func newSSECapture(src io.ReadCloser, s *scope, now func() time.Time, proto upstream.Stream, retain bool) *sseCapture {
	return &sseCapture{src: src, s: s, now: now, proto: proto, retain: retain}
}

// Read hands out as many events as p holds of what is already read, and
// reads from upstream only when it has nothing to give: the ReverseProxy
// writes and flushes once per Read, so events that arrived together leave
// together, in one write, as they do through a bare proxy. It never waits on
// upstream with bytes in hand.
func (c *sseCapture) Read(p []byte) (int, error) {
	n, err := c.read(p)
	c.s.respBytes += int64(n) // what the client is sent, rewrites included
	return n, err
}

func (c *sseCapture) read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(c.edit) > 0 {
			k := copy(p[n:], c.edit)
			c.edit = c.edit[k:]
			n += k
			continue
		}
		if c.head < c.ready {
			k := copy(p[n:], c.buf[c.head:c.ready])
			c.head += k
			n += k
			continue
		}
		if c.cut && c.pend.end == 0 {
			return n, errIfNone(n, io.EOF)
		}
		if c.scan() {
			continue
		}
		if c.srcErr != nil {
			if c.ready < len(c.buf) {
				// A trailing partial event (stream cut mid-event) is passed on as is.
				c.ready, c.seen = len(c.buf), 0
				continue
			}
			return n, errIfNone(n, c.srcErr)
		}
		if n > 0 {
			return n, nil
		}
		if c.head == len(c.buf) { // nothing held
			c.putBuf()
			n = c.readInto(p)
			continue
		}
		c.fill()
	}
	return n, nil
}

// readInto reads from upstream into p and passes the events there in
// place, closing the gaps that dropped and shortened events leave. It
// returns the length of what is ready at p's front. A partial event at the
// end, and an event that is rewritten longer or ends the stream with
// everything after it, are held in the capture's buffer.
func (c *sseCapture) readInto(p []byte) int {
	k, err := c.src.Read(p)
	c.noteRead(k, err)
	w, i := 0, 0 // p[:w] is ready; p[i:k] is not read yet
	for {
		end := openai.SplitEvent(p[i:k])
		if end < 0 {
			break
		}
		keep, rewrite := c.inspect(p[i : i+end])
		switch {
		case keep && rewrite == nil:
			if w < i {
				copy(p[w:], p[i:i+end])
			}
			w += end
		case !keep:
		case len(rewrite) <= end && !c.cut:
			w += copy(p[w:], rewrite)
		default:
			c.hold(p[i:k], 0)
			c.pend = pending{end: end, keep: keep, rewrite: rewrite}
			return w
		}
		i += end
	}
	c.hold(p[i:k], k-i)
	return w
}

// hold keeps b in the capture's buffer, seen bytes of it already searched.
func (c *sseCapture) hold(b []byte, seen int) {
	if len(b) == 0 {
		return
	}
	if c.buf == nil {
		c.buf = sseBufs.Get().(*[sseBufSize]byte)[:0]
	}
	c.buf = append(c.buf[:0], b...)
	c.head, c.ready, c.seen = 0, 0, seen
}

// putBuf gives the capture's buffer back to the pool; only buffers of the
// pool's size go back.
func (c *sseCapture) putBuf() {
	if cap(c.buf) == sseBufSize {
		sseBufs.Put((*[sseBufSize]byte)(c.buf[:sseBufSize]))
	}
	c.buf, c.head, c.ready, c.seen = nil, 0, 0, 0
}

// errIfNone is err when nothing was read, else nil: the error comes with
// the next Read, after the bytes in hand.
func errIfNone(n int, err error) error {
	if n > 0 {
		return nil
	}
	return err
}

// fill reads once from upstream into the free end of buf, first moving the
// undelivered bytes to its front, and growing it only when one event fills
// it whole.
func (c *sseCapture) fill() {
	if c.head > 0 {
		n := copy(c.buf, c.buf[c.head:])
		c.buf = c.buf[:n]
		c.ready -= c.head
		c.head = 0
	}
	if len(c.buf) == cap(c.buf) {
		c.buf = append(c.buf, make([]byte, max(cap(c.buf), sseBufSize))...)[:len(c.buf)]
	}
	n, err := c.src.Read(c.buf[len(c.buf):cap(c.buf)])
	c.buf = c.buf[:len(c.buf)+n]
	c.noteRead(n, err)
}

// noteRead records the first byte and a read error.
func (c *sseCapture) noteRead(n int, err error) {
	if n > 0 && c.s.firstByte.IsZero() {
		c.s.firstByte = c.now()
	}
	if err != nil {
		c.srcErr = err
		if !errors.Is(err, io.EOF) {
			c.s.readFailed()
		}
	}
}

// scan advances ready over complete events that pass unchanged, and stops
// at one that must be dropped or rewritten: that one is handled only once
// everything before it has been handed out. It reports whether anything
// became ready.
func (c *sseCapture) scan() bool {
	progressed := false
	for {
		if c.pend.end > 0 {
			if c.head < c.ready {
				return true // hand out what precedes it first
			}
			c.head += c.pend.end
			c.ready = c.head
			if c.pend.keep {
				c.edit = c.pend.rewrite
			}
			c.pend = pending{}
			return true
		}
		if c.cut {
			return progressed
		}
		rest := c.buf[c.ready:]
		from := max(c.seen-3, 0) // a terminator may straddle the last read
		end := openai.SplitEvent(rest[from:])
		if end < 0 {
			c.seen = len(rest)
			return progressed
		}
		end += from
		c.seen = 0
		keep, rewrite := c.inspect(rest[:end])
		if keep && rewrite == nil {
			c.ready += end
			progressed = true
			continue
		}
		c.pend = pending{end: end, keep: keep, rewrite: rewrite}
	}
}

// inspect reads one event: usage, the data kept for offline counting, and
// whether it passes as is (keep, nil), rewritten (keep, bytes) or not at all.
func (c *sseCapture) inspect(ev []byte) (keep bool, rewrite []byte) {
	name, data := eventData(ev)
	c.s.streamEvents++
	e := c.proto.Event(ev, name, data)
	if e.FirstContent && c.s.firstToken.IsZero() {
		c.s.firstToken = c.now()
	}
	if e.Usage != nil {
		c.s.usage, c.s.usageSeen = *e.Usage, true
	}
	if e.Drop {
		return false, nil
	}
	var guarded []byte // the event as the guardrails rewrote it
	if c.s.guard.stream != nil {
		rewrite, cut := c.s.guardEvent(name, data, c.s.member.target.StreamText(name, data))
		if cut {
			c.cut = true
			return true, rewrite
		}
		if rewrite != nil {
			guarded, ev = rewrite, rewrite
			name, data = eventData(ev)
		}
	}
	if c.retain {
		c.s.streamData = appendFrame(appendFrame(c.s.streamData, name), data)
	}
	if guarded == nil {
		return true, e.Rewrite
	}
	// The guardrails rewrote the event: the protocol's own rewrite (the
	// usage moat injected) applies to the rewritten bytes.
	if again := c.proto.Event(guarded, name, data); again.Rewrite != nil {
		return true, again.Rewrite
	}
	return true, guarded
}

// eventData returns an event's event: name and its data. The common event
// of one data: line is returned in place; several data: lines are joined.
func eventData(ev []byte) (name, data []byte) {
	lines := 0
	for rest := ev; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case bytes.HasPrefix(line, []byte("data:")):
			lines++
			data = bytes.TrimPrefix(line[5:], []byte(" "))
		case bytes.HasPrefix(line, []byte("event:")):
			name = bytes.TrimSpace(line[6:])
		}
	}
	if lines > 1 {
		n, d := openai.EventData(ev)
		return []byte(n), d
	}
	return name, data
}

// appendFrame appends b to buf with its length in front, so that one flat
// buffer holds every kept event instead of one allocation each.
func appendFrame(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

func nextFrame(buf []byte) (frame, rest []byte, ok bool) {
	n, k := binary.Uvarint(buf)
	if k <= 0 || uint64(len(buf)-k) < n {
		return nil, nil, false
	}
	return buf[k : k+int(n)], buf[k+int(n):], true
}

func (c *sseCapture) Close() error {
	c.putBuf()
	c.edit, c.pend = nil, pending{}
	return c.src.Close()
}

// streamText decodes the generated text of the kept stream events, for
// offline counting and body logging.
func (s *scope) streamText() string {
	var b strings.Builder
	for rest := s.streamData; len(rest) > 0; {
		name, r, ok := nextFrame(rest)
		if !ok {
			break
		}
		data, r, ok := nextFrame(r)
		if !ok {
			break
		}
		rest = r
		b.WriteString(s.member.target.StreamText(name, data))
	}
	return b.String()
}

// jsonCapture passes a JSON body through while keeping enough of it to read
// usage at the end: only its tail, or, when bodies are logged, the whole
// body up to captureHeadLimit. The tail is kept in a buffer of
// captureTail from a pool, given back on Close: every answer is read
// through one, and a tail never outgrows it.
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
	// captureTail is the tail kept to find usage: the usage member is last
	// in every OpenAI- and Anthropic-shaped body and takes a few hundred
	// bytes, so a small tail holds it with a wide margin.
	captureTail = 16 << 10
)

// tailBufs recycles the tails of answers whose bodies are not logged, as
// sseBufs does.
var tailBufs = sync.Pool{New: func() any { return new([captureTail]byte) }}

func newJSONCapture(src io.ReadCloser, s *scope, now func() time.Time, keepBody bool) *jsonCapture {
	return &jsonCapture{src: src, s: s, now: now, keepBody: keepBody}
}

func (c *jsonCapture) Read(p []byte) (int, error) {
	n, err := c.src.Read(p)
	c.s.respBytes += int64(n)
	if n > 0 {
		if c.s.firstByte.IsZero() {
			c.s.firstByte = c.now()
		}
		c.record(p[:n])
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

// record keeps b, or as much of its end as the tail needs.
func (c *jsonCapture) record(b []byte) {
	limit := captureTail
	if c.keepBody {
		limit = captureHeadLimit + captureTail
	} else if c.keep == nil {
		c.keep = tailBufs.Get().(*[captureTail]byte)[:0]
	}
	if len(c.keep)+len(b) <= limit {
		c.keep = append(c.keep, b...)
		return
	}
	c.overflow = true
	if len(b) >= captureTail {
		c.keep = append(c.keep[:0], b[len(b)-captureTail:]...)
		return
	}
	drop := len(c.keep) + len(b) - captureTail
	c.keep = append(c.keep[:copy(c.keep, c.keep[drop:])], b...)
}

func (c *jsonCapture) finish() {
	// The upstream's protocol finds usage in the tail (or the whole body).
	var u openai.Usage
	ok := false
	if t := c.s.member.target; t != nil {
		u, ok = t.AnswerUsage(c.s.call.Operation, c.keep, !c.overflow)
	}
	if c.keepBody && !c.overflow {
		c.s.respBody = c.keep
	}
	if ok {
		c.s.usage, c.s.usageSeen = u, true
	}
}

// Close gives the tail back to the pool: usage was read from it at EOF,
// and only a logged body (never pooled) outlives the capture.
func (c *jsonCapture) Close() error {
	if !c.keepBody && cap(c.keep) == captureTail {
		tailBufs.Put((*[captureTail]byte)(c.keep[:captureTail]))
	}
	c.keep = nil
	return c.src.Close()
}
