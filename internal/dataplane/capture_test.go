package dataplane

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/redact"
	"github.com/moat-gw/moat/internal/upstream"
)

// testStream makes s a chat call answered by an Azure upstream and returns
// the reader of its stream.
func testStream(s *scope) upstream.Stream {
	t, err := upstream.New(upstream.Options{Name: "u", Type: upstream.TypeAzure, BaseURL: "https://x", APIVersion: "2024-10-21"})
	if err != nil {
		panic(err)
	}
	chat, _ := openai.OperationByName("chat")
	s.call.Operation = chat
	s.member.target = t
	return t.NewStream(upstream.Call{Operation: chat}, s.injectedUsage)
}

// TestSSECaptureSpacedJSON: a Python-style server's spaced JSON is read and
// stripped as well as Go's compact JSON.
func TestSSECaptureSpacedJSON(t *testing.T) {
	stream := "data: {\"choices\": [{\"delta\": {\"content\": \"hi\"}}], \"usage\": null}\n\n" +
		"data: {\"choices\": [], \"usage\": {\"prompt_tokens\": 3, \"completion_tokens\": 1, \"total_tokens\": 4}}\n\n" +
		"data: [DONE]\n\n"
	s := &scope{injectedUsage: true}
	c := newSSECapture(io.NopCloser(strings.NewReader(stream)), s, time.Now, testStream(s), true)
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	want := "data: {\"choices\": [{\"delta\": {\"content\": \"hi\"}}]}\n\ndata: [DONE]\n\n"
	if string(out) != want || !s.usageSeen || s.usage.TotalTokens != 4 || s.streamText() != "hi" {
		t.Fatalf("out %q usage %+v text %q", out, s.usage, s.streamText())
	}
}

// TestSSECaptureChunking: however the upstream's bytes are cut, the client
// gets the same events, usage is read once, the injected usage is hidden,
// and event data is kept only when asked.
func TestSSECaptureChunking(t *testing.T) {
	const stream = "data: {\"choices\":[],\"prompt_filter_results\":[]}\n\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}],\"usage\":null}\r\n\r\n" +
		"event: message\ndata: {\"choices\":[{\"delta\":\ndata: {\"content\":\"lo\"}}]}\n\n" +
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n" +
		"data: [DONE]\n\n"
	stripped := "data: {\"choices\":[],\"prompt_filter_results\":[]}\n\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n" +
		"event: message\ndata: {\"choices\":[{\"delta\":\ndata: {\"content\":\"lo\"}}]}\n\n" +
		"data: [DONE]\n\n"
	readers := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"halves":   iotest.HalfReader,
		"data+err": iotest.DataErrReader,
	}
	for name, wrap := range readers {
		for _, tt := range []struct {
			strip, retain bool
			want          string
			text          string
		}{
			{strip: true, retain: true, want: stripped, text: "Hello"},
			{strip: true, retain: false, want: stripped},
			{strip: false, retain: true, want: stream, text: "Hello"},
		} {
			s := &scope{injectedUsage: tt.strip, streamed: true}
			c := newSSECapture(io.NopCloser(wrap(strings.NewReader(stream))), s, time.Now, testStream(s), tt.retain)
			out, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("%s strip=%v: got\n%q\nwant\n%q", name, tt.strip, out, tt.want)
			}
			if !s.usageSeen || s.usage.TotalTokens != 5 {
				t.Errorf("%s: usage %+v seen %v", name, s.usage, s.usageSeen)
			}
			if got := s.streamText(); got != tt.text {
				t.Errorf("%s retain=%v: text %q, want %q", name, tt.retain, got, tt.text)
			}
			if s.streamEvents != 5 {
				t.Errorf("%s: %d events, want 5", name, s.streamEvents)
			}
		}
	}
}

// TestSSECaptureCutMidEvent: a stream broken off mid-event passes the
// partial event on and reports the error, and a client that left before
// usage arrived is estimated from the events when no text was kept.
func TestSSECaptureCutMidEvent(t *testing.T) {
	cut := errors.New("connection reset")
	src := io.MultiReader(strings.NewReader("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"cho"),
		iotest.ErrReader(cut))
	s := &scope{injectedUsage: true, streamed: true}
	c := newSSECapture(io.NopCloser(src), s, time.Now, testStream(s), false)
	out, err := io.ReadAll(c)
	if !errors.Is(err, cut) {
		t.Fatalf("err %v", err)
	}
	if !bytes.HasSuffix(out, []byte("data: {\"cho")) {
		t.Fatalf("partial event lost: %q", out)
	}
	if !s.upstreamCut || s.usageSeen {
		t.Fatalf("cut %v usage %v", s.upstreamCut, s.usageSeen)
	}
	if got := s.completionEstimate(func(string) int { t.Fatal("no text was kept"); return 0 }); got != 1 {
		t.Fatalf("estimate %d, want 1 (one complete event)", got)
	}
}

// TestSSECaptureLargeEvent: an event larger than the read buffer grows it
// and passes whole.
func TestSSECaptureLargeEvent(t *testing.T) {
	big := strings.Repeat("x", 3*sseBufSize)
	stream := "data: {\"choices\":[{\"delta\":{\"content\":\"" + big + "\"}}]}\n\ndata: [DONE]\n\n"
	s := &scope{}
	out, err := io.ReadAll(newSSECapture(io.NopCloser(strings.NewReader(stream)), s, time.Now, testStream(s), true))
	if err != nil || string(out) != stream || s.streamText() != big {
		t.Fatalf("err %v, out %d bytes (want %d), text %d", err, len(out), len(stream), len(s.streamText()))
	}
}

func TestJSONCaptureTail(t *testing.T) {
	usage := `"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`
	for _, size := range []int{0, 100, captureTail, 5 * captureTail} {
		body := `{"choices":[{"message":{"content":"` + strings.Repeat("y", size) + `"}}],` + usage
		s := &scope{}
		testStream(s)
		c := newJSONCapture(io.NopCloser(iotest.HalfReader(strings.NewReader(body))), s, time.Now, false)
		out, err := io.ReadAll(c)
		if err != nil || string(out) != body {
			t.Fatalf("size %d: err %v", size, err)
		}
		if !s.usageSeen || s.usage.TotalTokens != 10 {
			t.Fatalf("size %d: usage %+v", size, s.usage)
		}
		if len(c.keep) > captureTail {
			t.Fatalf("size %d: kept %d bytes, more than the tail", size, len(c.keep))
		}
	}
}

// BenchmarkSSECapture passes a 20-event chat stream with injected usage
// through the capture, as moat does for a client that did not ask for usage.
func BenchmarkSSECapture(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("data: {\"choices\":[],\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n")
	for range 20 {
		sb.WriteString(`data: {"choices":[{"content_filter_results":{},"delta":{"content":" word"},"finish_reason":null,"index":0}],"created":1733500000,"id":"chatcmpl-AbCdEf","model":"gpt-4o-mini-2024-07-18","object":"chat.completion.chunk","system_fingerprint":"fp_abc","usage":null}` + "\n\n")
	}
	sb.WriteString(`data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":20,"total_tokens":29}}` + "\n\ndata: [DONE]\n\n")
	stream := sb.String()
	p := make([]byte, 32<<10)
	for _, retain := range []bool{false, true} {
		name := "usage-expected"
		if retain {
			name = "text-kept"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(stream)))
			r := strings.NewReader(stream)
			// One target for all calls, as in a pipeline; a stream reader per call.
			proto := &scope{}
			testStream(proto)
			chat := proto.call.Operation
			for b.Loop() {
				r.Reset(stream)
				s := &scope{injectedUsage: true, streamed: true, member: proto.member, call: proto.call}
				st := s.member.target.NewStream(upstream.Call{Operation: chat}, true)
				c := newSSECapture(io.NopCloser(r), s, time.Now, st, retain)
				for {
					if _, err := c.Read(p); err != nil {
						break
					}
				}
			}
		})
	}
}

// TestSSECaptureReadsTogether: events that arrive in one upstream read
// leave in one Read (one write and flush by the ReverseProxy), rewritten,
// dropped or not, and a Read never waits on upstream with bytes in hand.
func TestSSECaptureReadsTogether(t *testing.T) {
	const stream = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}],\"usage\":null}\r\n\r\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\"c\"}}]}\n\n" +
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":3,\"total_tokens\":6}}\n\n" +
		"data: [DONE]\n\n"
	const stripped = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\r\n\r\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\"c\"}}]}\n\n" +
		"data: [DONE]\n\n"
	for _, tt := range []struct {
		name   string
		strip  bool
		p      int      // the caller's buffer
		reads  []string // what each Read returns, before EOF
		events int
	}{
		{name: "stripped, one read", strip: true, p: 32 << 10, reads: []string{stripped}, events: 5},
		{name: "as sent, one read", strip: false, p: 32 << 10, reads: []string{stream}, events: 5},
		// Upstream is read 64 bytes at a time: events cut by the reads are
		// held until whole.
		{name: "small buffer", strip: true, p: 64, reads: []string{stripped}, events: 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &scope{injectedUsage: tt.strip, streamed: true}
			src := &onceReader{data: stream}
			c := newSSECapture(io.NopCloser(src), s, time.Now, testStream(s), false)
			p := make([]byte, tt.p)
			var got []string
			for {
				n, err := c.Read(p)
				if n > 0 {
					got = append(got, string(p[:n]))
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if tt.p < len(stream) {
				got = []string{strings.Join(got, "")}
			}
			if strings.Join(got, "|") != strings.Join(tt.reads, "|") {
				t.Errorf("reads\n%q\nwant\n%q", got, tt.reads)
			}
			if !s.usageSeen || s.usage.TotalTokens != 6 || s.streamEvents != tt.events {
				t.Errorf("usage %+v seen %v, %d events", s.usage, s.usageSeen, s.streamEvents)
			}
		})
	}
}

// onceReader returns as much of data as p holds at each Read, then EOF.
type onceReader struct{ data string }

func (r *onceReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// scriptReader answers each Read with the next of its pieces (cut to p),
// and checks before each that the capture holds no buffer when what it
// read so far ends on an event boundary: it calls upstream only when it has
// nothing to hand out.
type scriptReader struct {
	t      *testing.T
	pieces []string
	c      *sseCapture
	read   []byte
}

func (r *scriptReader) Read(p []byte) (int, error) {
	if (len(r.read) == 0 || bytes.HasSuffix(r.read, []byte("\n\n"))) && r.c.buf != nil {
		r.t.Errorf("waiting on upstream with a buffer of %d bytes held", cap(r.c.buf))
	}
	if len(r.pieces) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.pieces[0])
	r.read = append(r.read, p[:n]...)
	if r.pieces[0] = r.pieces[0][n:]; r.pieces[0] == "" {
		r.pieces = r.pieces[1:]
	}
	return n, nil
}

// TestSSECapturePassesInPlace: upstream is read into the caller's buffer
// and events are passed there; whatever the cut of the reads and the size
// of the buffer, the client gets the right stream, usage is read and the
// injected usage hidden, guardrails rewrite and cut, and a stream waiting
// on its upstream between events holds no buffer of its own.
func TestSSECapturePassesInPlace(t *testing.T) {
	ev := func(content string) string {
		return `data: {"choices":[{"delta":{"content":"` + content + `"}}],"usage":null}` + "\n\n"
	}
	clean := func(content string) string {
		return `data: {"choices":[{"delta":{"content":"` + content + `"}}]}` + "\n\n"
	}
	const usage = `data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}` + "\n\n"
	const done = "data: [DONE]\n\n"
	big := strings.Repeat("x", 3*sseBufSize)
	email := redact.GuardRule{Rule: mustBuiltin(t, redact.Email), Action: redact.Mask}
	card := redact.GuardRule{Rule: mustBuiltin(t, redact.Card), Action: redact.Block}
	for _, tt := range []struct {
		name   string
		pieces []string // what each upstream read returns
		guard  []redact.GuardRule
		want   string // what the client gets
		usage  int    // total tokens read, 0: none
		events int
	}{
		{name: "events together", pieces: []string{ev("a") + ev("b") + usage + done},
			want: clean("a") + clean("b") + done, usage: 5, events: 4},
		{name: "an event per read", pieces: []string{ev("a"), ev("b"), usage, done},
			want: clean("a") + clean("b") + done, usage: 5, events: 4},
		{name: "an event split, then one per read", pieces: []string{ev("a")[:10], ev("a")[10:], ev("b"), usage, done},
			want: clean("a") + clean("b") + done, usage: 5, events: 4},
		{name: "events split across reads", pieces: []string{ev("a")[:10], ev("a")[10:] + ev("b")[:30], ev("b")[30:] + usage[:5], usage[5:] + done},
			want: clean("a") + clean("b") + done, usage: 5, events: 4},
		{name: "terminator split across reads", pieces: []string{ev("a")[:len(ev("a"))-1], "\n", usage + done},
			want: clean("a") + done, usage: 5, events: 3},
		{name: "crlf", pieces: []string{strings.ReplaceAll(ev("a"), "\n", "\r\n") + "data: {\"choices\":[]}\r\n\r", "\n" + usage + done},
			want: strings.ReplaceAll(clean("a"), "\n", "\r\n") + "data: {\"choices\":[]}\r\n\r\n" + done, usage: 5, events: 4},
		{name: "big event", pieces: []string{ev(big)[:sseBufSize], ev(big)[sseBufSize:], usage + done},
			want: clean(big) + done, usage: 5, events: 3},
		{name: "no usage", pieces: []string{ev("a") + done}, want: clean("a") + done, events: 2},
		// Three masks grow the event by more than the injected usage it loses.
		{name: "masked longer", pieces: []string{ev("a") + ev("a@b.co c@d.co e@f.co") + ev("c"), usage + done},
			guard: []redact.GuardRule{email},
			want:  clean("a") + clean("[REDACTED:email] [REDACTED:email] [REDACTED:email]") + clean("c") + done, usage: 5, events: 5},
		{name: "masked shorter", pieces: []string{ev("a") + ev("to a.very.long.name@example.com") + ev("c"), usage + done},
			guard: []redact.GuardRule{email},
			want:  clean("a") + clean("to [REDACTED:email]") + clean("c") + done, usage: 5, events: 5},
		{name: "blocked", pieces: []string{ev("a") + ev("card 4111 1111 1111 1111") + ev("c"), usage + done},
			guard: []redact.GuardRule{card}, usage: 0, events: 2},
	} {
		for _, size := range []int{32 << 10, 100} {
			t.Run(fmt.Sprintf("%s/p=%d", tt.name, size), func(t *testing.T) {
				s := &scope{injectedUsage: true, streamed: true}
				proto := testStream(s)
				if tt.guard != nil {
					s.guard.stream = redact.NewGuard(tt.guard).Stream()
				}
				src := &scriptReader{t: t, pieces: slices.Clone(tt.pieces)}
				c := newSSECapture(io.NopCloser(src), s, time.Now, proto, false)
				src.c = c
				var out []byte
				p := make([]byte, size)
				for {
					n, err := c.Read(p)
					out = append(out, p[:n]...)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				want := tt.want
				if tt.name == "blocked" {
					if !s.guard.cut || !bytes.HasPrefix(out, []byte(clean("a"))) ||
						!bytes.Contains(out, []byte(`"finish_reason":"content_filter"`)) || bytes.Contains(out, []byte("4111")) ||
						!bytes.HasSuffix(out, []byte(done)) || bytes.Count(out, []byte("\n\n")) != 3 {
						t.Errorf("cut %v, out %q", s.guard.cut, out)
					}
				} else if string(out) != want {
					t.Errorf("got\n%.300q\nwant\n%.300q", out, want)
				}
				if got := 0; tt.usage > 0 || s.usageSeen {
					if s.usageSeen {
						got = s.usage.TotalTokens
					}
					if got != tt.usage {
						t.Errorf("usage %d, want %d", got, tt.usage)
					}
				}
				if s.streamEvents != tt.events {
					t.Errorf("%d events, want %d", s.streamEvents, tt.events)
				}
				c.Close()
				if c.buf != nil {
					t.Errorf("closed with a buffer held")
				}
			})
		}
	}
}

func mustBuiltin(t *testing.T, name string) redact.Rule {
	r, ok := redact.Builtin(name)
	if !ok {
		t.Fatalf("no builtin rule %s", name)
	}
	return r
}
