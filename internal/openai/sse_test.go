package openai

import (
	"bytes"
	"testing"
)

// splitEventTwoSearches is SplitEvent as it was: the earlier of the first
// "\n\n" and the first "\r\n\r\n". SplitEvent must agree with it.
func splitEventTwoSearches(buf []byte) int {
	best := -1
	if i := bytes.Index(buf, []byte("\n\n")); i >= 0 {
		best = i + 2
	}
	if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 && (best < 0 || i+4 < best) {
		best = i + 4
	}
	return best
}

func TestSplitEvent(t *testing.T) {
	for _, tt := range []struct {
		name, buf string
		want      int
	}{
		{name: "empty", buf: "", want: -1},
		{name: "incomplete", buf: "data: {}\n", want: -1},
		{name: "lf", buf: "data: {}\n\ndata: x\n\n", want: 10},
		{name: "crlf", buf: "data: {}\r\n\r\ndata: x\n\n", want: 12},
		{name: "crlf incomplete", buf: "data: {}\r\n\r", want: -1},
		{name: "two lines", buf: "event: e\ndata: {}\n\n", want: 19},
		{name: "cr then lf lf", buf: "data: {}\r\n\n", want: 11},
		{name: "lf then crlf is not a crlf end", buf: "data: {}\n\r\nx\n\n", want: 14},
		{name: "terminator at the start", buf: "\n\ndata", want: 2},
		{name: "crlf terminator at the start", buf: "\r\n\r\n", want: 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := SplitEvent([]byte(tt.buf)); got != tt.want {
				t.Errorf("SplitEvent(%q) = %d, want %d", tt.buf, got, tt.want)
			}
			if got := splitEventTwoSearches([]byte(tt.buf)); got != tt.want {
				t.Errorf("reference(%q) = %d, want %d", tt.buf, got, tt.want)
			}
		})
	}
}

func FuzzSplitEvent(f *testing.F) {
	for _, s := range []string{"data: {}\n\n", "a\r\n\r\nb\n\n", "\r\n\n\r\n\r\n", "x\n\r\n\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		if got, want := SplitEvent(buf), splitEventTwoSearches(buf); got != want {
			t.Fatalf("SplitEvent(%q) = %d, want %d", buf, got, want)
		}
	})
}

func TestStreamUsage(t *testing.T) {
	for _, tt := range []struct {
		name, data string
		fast       bool // read by the trailer walk
		total      int
		only       bool
	}{
		{name: "trailer", data: `{"choices":[],"created":1,"id":"x","model":"m","object":"chat.completion.chunk","usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}`,
			fast: true, total: 5, only: true},
		{name: "spaced trailer", data: `{"choices": [ ], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}`,
			fast: true, total: 5, only: true},
		{name: "usage with content", data: `{"choices":[{"delta":{"content":"a"}}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`, total: 5},
		{name: "repeated usage merges", data: `{"choices":[],"usage":{"prompt_tokens":3},"usage":{"completion_tokens":2}}`, total: 5, only: true},
		{name: "null usage", data: `{"choices":[],"usage":null}`},
		{name: "folded name", data: `{"Choices":[],"USAGE":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`, fast: true, total: 5, only: true},
		{name: "responses completed", data: `{"type":"response.completed","response":{"usage":{"input_tokens":3,"output_tokens":2,"total_tokens":5}}}`, total: 5},
		{name: "not json", data: `{"choices":[],"usage":{`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, fast := usageTrailer([]byte(tt.data))
			u, only := StreamUsage("", []byte(tt.data))
			c := ParseStreamChunk("", []byte(tt.data))
			total := 0
			if u != nil {
				total = u.TotalTokens
			}
			if fast != tt.fast || total != tt.total || only != tt.only {
				t.Errorf("fast %v total %d only %v, want %v %d %v", fast, total, only, tt.fast, tt.total, tt.only)
			}
			if (u == nil) != (c.Usage == nil) || (u != nil && *u != *c.Usage) || only != c.UsageOnly {
				t.Errorf("differs from ParseStreamChunk: %+v %v against %+v %v", u, only, c.Usage, c.UsageOnly)
			}
		})
	}
}

func FuzzStreamUsage(f *testing.F) {
	for _, s := range []string{
		`{"choices":[],"usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":1}}}`,
		`{"choices":[],"usage":{"input_tokens":3,"output_tokens":2}}`,
		`{"choices":[],"usage":{"prompt_tokens":3},"usage":{"completion_tokens":2}}`,
		`{"choices":[],"usage":{"prompt_tokens":"3"}}`,
		`{"choices":[],"usage":{"prompt_tokens":3.5}}`,
	} {
		f.Add("", []byte(s))
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		u, only := StreamUsage(name, data)
		c := ParseStreamChunk(name, data)
		if (u == nil) != (c.Usage == nil) || (u != nil && *u != *c.Usage) || only != c.UsageOnly {
			t.Fatalf("%q: %+v %v, ParseStreamChunk %+v %v", data, u, only, c.Usage, c.UsageOnly)
		}
	})
}

// BenchmarkStreamUsage reads the usage-only trailer of a chat stream, once
// per streamed call.
func BenchmarkStreamUsage(b *testing.B) {
	data := []byte(`{"choices":[],"created":1795379844,"id":"chatcmpl-u4k8Ve5jg03NyKW0uE8K1i5AqM7Ve","model":"gpt-4o-mini-2024-07-18",` +
		`"object":"chat.completion.chunk","system_fingerprint":"fp_70c0fca938","usage":{"completion_tokens":20,"prompt_tokens":8,"total_tokens":28}}`)
	b.Run("trailer walk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if u, only := StreamUsage("", data); u == nil || !only {
				b.Fatal("no usage")
			}
		}
	})
	b.Run("ParseStreamChunk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if c := ParseStreamChunk("", data); c.Usage == nil || !c.UsageOnly {
				b.Fatal("no usage")
			}
		}
	})
}
