package tokens

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/openai"
)

// prose is ordinary English, the common case.
const prose = `The gateway counts a prompt before it forwards it, because a token limit
must be reserved before the model is called. Counting has to agree with the
model's own tokenizer, or the reservation drifts from what is billed; it also
has to be cheap, since it runs on every call that a limit applies to. Most
text is short words separated by single spaces, with punctuation, numbers like
2024 or 3.14, and the occasional contraction: it's, we'll, they've, I'd. `

// benchInputs are the shapes of text whose cost per KiB must stay flat:
// the common case and the adversarial ones (long runs that are a single
// piece, runs the old matcher rescanned, many tiny pieces).
var benchInputs = []struct {
	name string
	unit string
}{
	{"prose", prose},
	{"code", "func f(x int) error {\n\tif x > 0 {\n\t\treturn fmt.Errorf(\"bad %d\", x)\n\t}\n\treturn nil\n}\n"},
	{"unicode", "日本語のテキスト、中文文本。Русский текст. 한국어 😀👍🏽 Ελληνικά "},
	{"spaces", " "},
	{"space-newline", " \n"},
	{"longword", "abcdefghijklmnopqrstuvwxyz"},
	{"maxpiece", strings.Repeat("abcdefghijklmnopqrstuvwxyz", 10)[:maxPiece-1] + " "},
	{"punct", "!?.,;:-=*#"},
	{"digits", "0123456789"},
	{"randomwords", randomWords()},
}

// randomWords is 4 KiB of made-up lower-case words, 3 to 14 letters: few
// are tokens, so nearly every piece is merged pair by pair, the costliest
// text per byte for byte-pair encoding that an attacker can send without
// hitting the piece cap.
func randomWords() string {
	rng := rand.New(rand.NewPCG(7, 7))
	var sb strings.Builder
	for sb.Len() < 4<<10 {
		sb.WriteByte(' ')
		for range 3 + rng.IntN(12) {
			sb.WriteByte(byte('a' + rng.IntN(26)))
		}
	}
	return sb.String()
}

// repeatTo repeats unit to exactly n bytes (cutting the last copy at a
// rune boundary, which may leave it a few bytes short).
func repeatTo(unit string, n int) string {
	s := strings.Repeat(unit, n/len(unit)+1)[:n]
	return strings.ToValidUTF8(s, "")
}

var benchSizes = []int{1 << 10, 64 << 10, 1 << 20}

// cpuTime is the CPU the process has used. On a machine shared with other
// work, wall time per op inflates with the load; CPU time much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perKiB runs f as a benchmark body and reports CPU per KiB of input (the
// figure issue 12 targets) next to the usual wall-clock ns/op.
func perKiB(b *testing.B, size int, f func()) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		f()
	}
	cpu := cpuTime() - start
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/(float64(size)/1024), "cpu-ns/KiB")
}

func BenchmarkCount(b *testing.B) {
	c := New()
	for _, model := range []string{"gpt-4o", "gpt-4"} {
		c.Count(model, "warm up") // load the vocabulary outside the timings
		for _, in := range benchInputs {
			for _, size := range benchSizes {
				text := repeatTo(in.unit, size)
				b.Run(fmt.Sprintf("%s/%s/%s", c.Encoding(model), in.name, sizeName(size)), func(b *testing.B) {
					m := new(merger)
					v := c.vocab(model)
					perKiB(b, len(text), func() {
						if _, err := v.count(context.Background(), text, m); err != nil {
							b.Fatal(err)
						}
					})
				})
			}
		}
	}
}

// BenchmarkOracleCount measures the tokenizer moat used before, on the
// same inputs. " \n", quadratic for it, runs only at 1 KiB and 64 KiB: at
// 1 MiB it would take minutes per call.
func BenchmarkOracleCount(b *testing.B) {
	for _, enc := range []string{O200kBase, Cl100kBase} {
		o := oracleFor(b, enc)
		for _, in := range benchInputs {
			for _, size := range benchSizes {
				if size > 64<<10 && in.name == "space-newline" {
					continue
				}
				text := repeatTo(in.unit, size)
				b.Run(fmt.Sprintf("%s/%s/%s", enc, in.name, sizeName(size)), func(b *testing.B) {
					perKiB(b, len(text), func() { o.count(b, text) })
				})
			}
		}
	}
}

// BenchmarkPromptWithin is the whole admission count of a chat request:
// one decode of the messages, then the count, per KiB of body. This is
// the figure issue 12 sets at 5 µs per KiB.
func BenchmarkPromptWithin(b *testing.B) {
	c := New()
	for _, in := range []struct{ name, unit string }{{"prose", prose}, {"space-newline", " \n"}, {"randomwords", randomWords()}} {
		for _, size := range benchSizes {
			content, _ := json.Marshal(repeatTo(in.unit, size))
			body := []byte(`{"messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":` + string(content) + `}],"max_tokens":100}`)
			r, err := openai.ParseRequest(body)
			if err != nil {
				b.Fatal(err)
			}
			c.Prompt("gpt-4o", r)
			b.Run(fmt.Sprintf("%s/%s", in.name, sizeName(size)), func(b *testing.B) {
				perKiB(b, len(body), func() {
					if _, err := c.PromptWithin(context.Background(), "gpt-4o", r, 1<<20); err != nil {
						b.Fatal(err)
					}
				})
			})
		}
	}
}

// BenchmarkPromptDecoded is BenchmarkPromptWithin with the decoder the
// walk replaced (decoded_test.go): json.Unmarshal into any values, then
// the count. The difference is what reading the JSON in place saves.
func BenchmarkPromptDecoded(b *testing.B) {
	c := New()
	for _, in := range []struct{ name, unit string }{{"prose", prose}} {
		for _, size := range benchSizes[:2] {
			content, _ := json.Marshal(repeatTo(in.unit, size))
			body := []byte(`{"messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":` + string(content) + `}],"max_tokens":100}`)
			r, err := openai.ParseRequest(body)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/%s", in.name, sizeName(size)), func(b *testing.B) {
				perKiB(b, len(body), func() {
					if _, err := c.decodedPromptWithin(context.Background(), "gpt-4o", r, 1<<20); err != nil {
						b.Fatal(err)
					}
				})
			})
		}
	}
}

// BenchmarkPromptBound is what admission pays per KiB of body when a
// limit is far from its budget: the upper bound, read from the raw JSON
// without tokenizing (the exact count runs only near a limit).
func BenchmarkPromptBound(b *testing.B) {
	for _, in := range []struct{ name, unit string }{{"prose", prose}, {"space-newline", " \n"}, {"randomwords", randomWords()}, {"unicode", benchInputs[2].unit}} {
		for _, size := range benchSizes {
			content, _ := json.Marshal(repeatTo(in.unit, size))
			body := []byte(`{"messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":` + string(content) + `}],"max_tokens":100}`)
			r, err := openai.ParseRequest(body)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/%s", in.name, sizeName(size)), func(b *testing.B) {
				perKiB(b, len(body), func() { PromptBound(r) })
			})
		}
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}
