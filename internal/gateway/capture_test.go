package gateway

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestHasUsageObject(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"choices":[],"usage":{"prompt_tokens":1}}`, true},
		{`{"choices": [], "usage": {"prompt_tokens": 1}}`, true},
		{`{"choices":[],"usage":null}`, false},
		{`{"choices": [], "usage": null}`, false},
		{`{"choices":[{"delta":{"content":"the \"usage\":{ of words"}}]}`, false},
		{`{"text":"\"usage\""}`, false},
		{``, false},
	}
	for _, tt := range tests {
		if got := hasUsageObject([]byte(tt.in)); got != tt.want {
			t.Errorf("%s: %v", tt.in, got)
		}
	}
}

// TestSSECaptureSpacedJSON: a Python-style server's spaced JSON is read and
// stripped as well as Go's compact JSON.
func TestSSECaptureSpacedJSON(t *testing.T) {
	stream := "data: {\"choices\": [{\"delta\": {\"content\": \"hi\"}}], \"usage\": null}\n\n" +
		"data: {\"choices\": [], \"usage\": {\"prompt_tokens\": 3, \"completion_tokens\": 1, \"total_tokens\": 4}}\n\n" +
		"data: [DONE]\n\n"
	s := &scope{injectedUsage: true}
	c := newSSECapture(io.NopCloser(strings.NewReader(stream)), s, time.Now)
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	want := "data: {\"choices\": [{\"delta\": {\"content\": \"hi\"}}]}\n\ndata: [DONE]\n\n"
	if string(out) != want || !s.usageSeen || s.usage.TotalTokens != 4 || s.streamText() != "hi" {
		t.Fatalf("out %q usage %+v text %q", out, s.usage, s.streamText())
	}
}
