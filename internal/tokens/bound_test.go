package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/openai"
)

// adversarial are the inputs that are expensive for one part or another:
// long runs that are one piece, runs the old matcher rescanned, pieces
// that all need merging.
var adversarial = map[string]string{
	"space-newline": " \n",
	"spaces":        " ",
	"newlines":      "\n",
	"tabs-spaces":   " \t",
	"longword":      "abcdefghijklmnopqrstuvwxyz",
	"upper-lower":   "ABCdef",
	"marks":         "\u0301",
	"punct":         "!?",
	"digits":        "0123456789",
	"cjk":           "日本語のテキスト",
	"emoji":         "😀👍🏽",
	"del":           "\x7f ",
}

// TestSplitIsLinear is the regression test for issue 17's quadratic
// tokenizer: it counts the splitter's work (bytes read) instead of timing
// it. For every adversarial shape the work per byte at 128 KiB stays
// within a small constant, the same as at 1 KiB; the old matcher read the
// whole remaining run for every " \n" piece, about n²/4 reads.
func TestSplitIsLinear(t *testing.T) {
	c := New()
	for name, unit := range adversarial {
		for _, model := range models {
			v := c.vocab(model)
			for _, size := range []int{1 << 10, 128 << 10} {
				text := repeatTo(unit, size)
				s := splitter{cls: v.cls, text: text}
				for i := 0; i < len(text); {
					end := s.next(i, v.o200k)
					if end < 0 {
						end = i + 1
					}
					i = end
				}
				if perByte := float64(s.steps) / float64(len(text)); perByte > 6 {
					t.Errorf("%s %s at %d bytes: %.1f reads per byte, want a constant", model, name, size, perByte)
				}
			}
		}
	}
}

// TestSpaceNewlineAttackCountsExactly runs the attack input of issue 17
// (128 KB of " \n") through the exact count: it finishes and agrees
// with the count the old tokenizer gives for a shorter input of the same
// shape scaled up (every " \n" is one token).
func TestSpaceNewlineAttackCountsExactly(t *testing.T) {
	c := New()
	text := strings.Repeat(" \n", 64<<10)
	for enc, model := range models {
		unit := oracleFor(t, enc).count(t, " \n \n")
		if got, want := c.Count(model, text), unit*(64<<10)/2; got != want {
			t.Errorf("%s: Count = %d, want %d", enc, got, want)
		}
	}
}

// TestUpperBound: what PromptWithin reserves for text it does not count
// exactly is never below the exact count, on every corpus text and
// adversarial shape, and a piece too long to merge is bounded too.
func TestUpperBound(t *testing.T) {
	c := New()
	texts := append([]string{}, corpus...)
	for _, unit := range adversarial {
		texts = append(texts, repeatTo(unit, 8<<10))
	}
	for _, text := range texts {
		for _, model := range models {
			if n, b := c.Count(model, text), upperBound(text); n > b {
				t.Errorf("%s: count %d > bound %d for %.40q", model, n, b, text)
			}
		}
	}
	long := strings.Repeat("a", maxPiece+1)
	if got := c.Count("gpt-4o", long); got != len(long) {
		t.Errorf("piece of %d bytes counted %d, want its length", len(long), got)
	}
}

func TestPromptWithinCap(t *testing.T) {
	c := New()
	big := strings.Repeat("hello world ", 1000) // 12,000 bytes, 2,000 tokens
	body := `{"messages":[{"role":"user","content":"` + big + `"},{"role":"assistant","content":"hi"}]}`
	r, err := openai.ParseRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	exact := c.Prompt("gpt-4o", r)
	tests := []struct {
		name string
		max  int
		want int
	}{
		{name: "no cap", max: math.MaxInt, want: exact},
		{name: "cap above the prompt", max: 1 << 20, want: exact},
		// Roles (user, assistant) and "hi" fit; the big content is bounded
		// by its bytes: 2×3 framing + 1 + 1 + 1 + 12,000 + 3.
		{name: "cap below the big content", max: 100, want: 6 + 3 + len(big) + 3},
		{name: "zero cap bounds everything", max: 0, want: 6 + len("user") + len("assistant") + len(big) + len("hi") + 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.PromptWithin(context.Background(), "gpt-4o", r, tt.max)
			if err != nil || got != tt.want {
				t.Fatalf("PromptWithin(max %d) = %d, %v; want %d", tt.max, got, err, tt.want)
			}
			if got < exact {
				t.Fatalf("bounded count %d under the exact %d", got, exact)
			}
		})
	}
}

// cancelAfter is a context whose Err turns Canceled after n calls, so the
// test knows exactly when counting was told to stop.
type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	if c.n <= 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

// TestCanceledContextStopsCounting: a client that leaves stops the count at
// the next check, and the prompt is reported at its upper bound with the
// context's error.
func TestCanceledContextStopsCounting(t *testing.T) {
	c := New()
	text := repeatTo(prose, 1<<20)
	v := c.vocab("gpt-4o")
	full, err := v.count(context.Background(), text, new(merger))
	if err != nil {
		t.Fatal(err)
	}
	partial, err := v.count(&cancelAfter{Context: context.Background(), n: 1}, text, new(merger))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("count with a canceled context: err %v", err)
	}
	// One check passed (at 16 KiB), the next (at 32 KiB) stopped it.
	if partial == 0 || partial*16 > full {
		t.Fatalf("stopped after %d of %d tokens; want about 1/32", partial, full)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	content, _ := json.Marshal(text)
	r, err := openai.ParseRequest([]byte(`{"messages":[{"role":"user","content":` + string(content) + `}]}`))
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.PromptWithin(ctx, "gpt-4o", r, math.MaxInt)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("PromptWithin with a canceled context: err %v", err)
	}
	// The role is read after the content, so it is bounded too.
	if want := 3 + len("user") + len(text) + 3; n != want {
		t.Fatalf("PromptWithin with a canceled context = %d, want the bound %d", n, want)
	}
}

// TestPromptWalksLikePromptText holds PromptWithin's walk of the raw
// messages to the rules of openai.Request.PromptText: the texts it counts
// are exactly the ones PromptText gathers, and each message's role.
func TestPromptWalksLikePromptText(t *testing.T) {
	bodies := []string{
		cookbookMessages,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:x"}}]},{"role":"tool","content":"r","tool_call_id":"x"},{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{\"x\":1}"}}]}]}`,
		`{"messages":"just a string"}`,
		`{"messages":[1,"x",null,{"role":7,"name":"n"}]}`,
		`{"prompt":["a","b"],"input":[{"role":"user","content":[{"type":"input_text","text":"t"},{"type":"input_audio","input_audio":{"data":"zz"}}]}],"instructions":"i"}`,
		`{"input":{"output":"o","prompt":"p","other":"no"}}`,
	}
	for _, body := range bodies {
		r, err := openai.ParseRequest([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		p := promptCount{budget: -1}
		p.onText = func(s string) { got = append(got, strings.Clone(s)) }
		walkPrompt(r, &p)
		if r.Instructions != "" {
			p.text(r.Instructions)
		}
		// PromptText leaves out the roles, which the count adds per message.
		want := r.PromptText()
		var msgs []any
		if json.Unmarshal(r.Messages, &msgs) == nil {
			for _, m := range msgs {
				if obj, ok := m.(map[string]any); ok {
					if role, _ := obj["role"].(string); role != "" {
						want = append(want, role)
					}
				}
			}
		}
		if !sameMultiset(got, want) {
			t.Errorf("%s:\n walk %q\n PromptText %q", body, got, want)
		}
	}
}

func sameMultiset(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
		if seen[s] < 0 {
			return false
		}
	}
	return true
}
