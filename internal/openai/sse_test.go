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
