package upstream

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/moat-gw/moat/internal/openai"
)

// eventTwoPasses is openaiStream.Event as it was before the one-pass walk:
// hasUsageObject on the data, then each usageNulls shape searched for
// over and over. Event must agree with it.
func eventTwoPasses(s *openaiStream, ev, name, data []byte) StreamEvent {
	var out StreamEvent
	if !s.content && carriesContent(name, data) {
		s.content, out.FirstContent = true, true
	}
	if hasUsageObject(data) {
		chunk := openai.ParseStreamChunk(string(name), data)
		out.Usage = chunk.Usage
		if s.strip && chunk.UsageOnly {
			out.Drop = true
			return out
		}
	}
	if !s.strip || !bytes.Contains(ev, usageKey) {
		return out
	}
	var buf []byte
	changed := false
	for len(ev) > 0 {
		best, match := -1, []byte(nil)
		for _, n := range usageNulls {
			if i := bytes.Index(ev, n); i >= 0 && (best < 0 || i < best) {
				best, match = i, n
			}
		}
		if best < 0 {
			break
		}
		buf = append(buf, ev[:best]...)
		ev = ev[best+len(match):]
		changed = true
	}
	if changed {
		out.Rewrite = append(buf, ev...)
	}
	return out
}

func TestOpenAIStreamEvent(t *testing.T) {
	for _, tt := range []struct {
		name        string
		strip       bool
		ev, rewrite string // rewrite "" : passes unchanged
		drop        bool
		total       int // usage read, 0: none
	}{
		{name: "compact null", strip: true, ev: `data: {"choices":[{"delta":{"content":"a"}}],"usage":null}` + "\n\n",
			rewrite: `data: {"choices":[{"delta":{"content":"a"}}]}` + "\n\n"},
		{name: "compact null first", strip: true, ev: `data: {"usage":null,"choices":[]}` + "\n\n",
			rewrite: `data: {"choices":[]}` + "\n\n"},
		{name: "spaced null", strip: true, ev: `data: {"choices": [], "usage": null}` + "\r\n\r\n",
			rewrite: `data: {"choices": []}` + "\r\n\r\n"},
		{name: "spaced null first", strip: true, ev: `data: {"usage": null, "choices": []}` + "\n\n",
			rewrite: `data: {"choices": []}` + "\n\n"},
		{name: "null kept when usage was asked for", strip: false, ev: `data: {"choices":[],"usage":null}` + "\n\n"},
		{name: "usage trailer dropped", strip: true, drop: true, total: 5,
			ev: `data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}` + "\n\n"},
		{name: "usage trailer passed when asked for", strip: false, total: 5,
			ev: `data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}` + "\n\n"},
		{name: "usage with content kept", strip: true, total: 5,
			ev: `data: {"choices":[{"delta":{"content":"a"}}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}` + "\n\n"},
		{name: "text mentioning usage", strip: true, ev: `data: {"choices":[{"delta":{"content":"\"usage\":null,"}}]}` + "\n\n"},
		{name: "two nulls", strip: true, ev: `data: {"usage":null,"usage":null}` + "\n\n", rewrite: `data: {"usage":null}` + "\n\n"},
		{name: "no usage", strip: true, ev: "data: [DONE]\n\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev := []byte(tt.ev)
			name, data := openai.EventData(ev)
			s := &openaiStream{strip: tt.strip}
			got := s.Event(ev, []byte(name), data)
			want := eventTwoPasses(&openaiStream{strip: tt.strip}, ev, []byte(name), data)
			if d := diffEvents(got, want); d != "" {
				t.Errorf("differs from the two-pass reading: %s", d)
			}
			if string(got.Rewrite) != tt.rewrite || got.Drop != tt.drop {
				t.Errorf("rewrite %q drop %v, want %q %v", got.Rewrite, got.Drop, tt.rewrite, tt.drop)
			}
			if total := 0; got.Usage != nil || tt.total != 0 {
				if got.Usage != nil {
					total = got.Usage.TotalTokens
				}
				if total != tt.total {
					t.Errorf("usage total %d, want %d", total, tt.total)
				}
			}
		})
	}
}

func diffEvents(got, want StreamEvent) string {
	g := fmt.Sprintf("first %v drop %v rewrite %q usage %+v", got.FirstContent, got.Drop, got.Rewrite, got.Usage)
	w := fmt.Sprintf("first %v drop %v rewrite %q usage %+v", want.FirstContent, want.Drop, want.Rewrite, want.Usage)
	if got.Usage != nil && want.Usage != nil && *got.Usage == *want.Usage {
		g, w = g[:len(g)-len(fmt.Sprintf("%+v", got.Usage))], w[:len(w)-len(fmt.Sprintf("%+v", want.Usage))]
	}
	if g == w {
		return ""
	}
	return "got " + g + ", want " + w
}

func FuzzOpenAIStreamEvent(f *testing.F) {
	for _, s := range []string{
		`data: {"choices":[{"delta":{"content":"a"}}],"usage":null}`,
		`data: {"usage": null, "choices": [], "usage": null}`,
		`data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`,
		`data: {,"usage":null,"usage":null,, "usage": null, "usage": null, }`,
	} {
		f.Add([]byte(s+"\n\n"), true)
	}
	f.Fuzz(func(t *testing.T, ev []byte, strip bool) {
		name, data := openai.EventData(ev)
		got := (&openaiStream{strip: strip}).Event(ev, []byte(name), data)
		want := eventTwoPasses(&openaiStream{strip: strip}, ev, []byte(name), data)
		if d := diffEvents(got, want); d != "" {
			t.Fatalf("event %q: %s", ev, d)
		}
	})
}
