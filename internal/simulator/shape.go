package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"unicode"
	"unicode/utf8"
)

// toolCall is one planned function call of an answer.
type toolCall struct {
	id     string
	name   string
	args   string   // JSON that validates against the tool's parameters
	pieces []string // args as streamed, a piece per chunk
}

// tokenLogprob is one entry of a choice's logprobs.content, in OpenAI's key
// order.
type tokenLogprob struct {
	Token       string       `json:"token"`
	Logprob     float64      `json:"logprob"`
	Bytes       []int        `json:"bytes"`
	TopLogprobs []topLogprob `json:"top_logprobs"`
}

type topLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// shapeAnswer draws one chat or completions answer under the request's
// options: tool calls, structured output or prose, then stop sequences and
// logprobs.
func shapeAnswer(dep *deployment, o chatOptions, chat bool, rng *rand.Rand, limit int) answer {
	if chat {
		if calls := o.callsTools(rng.IntN); len(calls) > 0 {
			return toolAnswer(dep, calls, rng, limit)
		}
	}
	var a answer
	switch o.format {
	case "json_object":
		prose, _ := dep.vocab.generate(rng, 0)
		a.pieces, a.finish = capPieces(splitPieces(marshalJSON(map[string]any{"answer": strings.Join(prose, "")})), limit)
	case "json_schema":
		v := newSchemaGen(rng, dep.vocab.lower, o.schema).value(o.schema, 0)
		a.pieces, a.finish = capPieces(splitPieces(marshalJSON(v)), limit)
	default:
		a.pieces, a.finish = dep.vocab.generate(rng, limit)
	}
	if len(o.stop) > 0 {
		var cut bool
		if a.pieces, cut = cutAtStop(a.pieces, o.stop); cut {
			a.finish = "stop"
		}
	}
	if o.logprobs {
		a.logprobs = logprobsFor(a.pieces, o.topLogprobs, dep.vocab.lower, rng)
	}
	return a
}

// toolAnswer calls each tool once with arguments drawn from its schema.
func toolAnswer(dep *deployment, calls []toolDef, rng *rand.Rand, limit int) answer {
	a := answer{finish: "tool_calls"}
	budget := limit
	for _, t := range calls {
		args := marshalJSON(newSchemaGen(rng, dep.vocab.lower, t.params).value(t.params, 0))
		c := toolCall{id: "call_" + randomAlnum(rng, 24), name: t.Function.Name, args: args, pieces: splitPieces(args)}
		if limit > 0 {
			if len(c.pieces) > budget {
				c.pieces = c.pieces[:budget]
				c.args = strings.Join(c.pieces, "")
				a.finish = "length"
			}
			budget -= len(c.pieces)
		}
		a.calls = append(a.calls, c)
		if a.finish == "length" {
			break
		}
	}
	return a
}

// capPieces cuts pieces at limit (finish "length"), else finish "stop".
func capPieces(pieces []string, limit int) ([]string, string) {
	if limit > 0 && limit < len(pieces) {
		return pieces[:limit], "length"
	}
	return pieces, "stop"
}

// cutAtStop ends the text before the first stop sequence, which is not
// returned, as OpenAI does.
func cutAtStop(pieces []string, stops []string) ([]string, bool) {
	text := strings.Join(pieces, "")
	at := -1
	for _, s := range stops {
		if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	if at < 0 {
		return pieces, false
	}
	out, n := pieces[:0:0], 0
	for _, p := range pieces {
		if n+len(p) > at {
			if rest := p[:at-n]; rest != "" {
				out = append(out, rest)
			}
			break
		}
		out = append(out, p)
		n += len(p)
	}
	return out, true
}

// splitPieces cuts generated JSON into stream pieces of about one token: a
// word (with its leading space) or one other character.
func splitPieces(s string) []string {
	var out []string
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		end := size
		if r == ' ' && len(s) > 1 {
			r, size = utf8.DecodeRuneInString(s[1:])
			end = 1 + size
		}
		if isWordRune(r) {
			for end < len(s) {
				r2, sz := utf8.DecodeRuneInString(s[end:])
				if !isWordRune(r2) {
					break
				}
				end += sz
			}
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// logprobsFor draws a log probability per piece, with the piece itself as
// the most likely of top alternatives drawn from the vocabulary.
func logprobsFor(pieces []string, top int, words []string, rng *rand.Rand) []tokenLogprob {
	out := make([]tokenLogprob, len(pieces))
	for i, p := range pieces {
		lp := -round6(rng.Float64() * rng.Float64() * 2.5)
		e := tokenLogprob{Token: p, Logprob: lp, Bytes: byteInts(p), TopLogprobs: []topLogprob{}}
		if top > 0 {
			e.TopLogprobs = append(e.TopLogprobs, topLogprob{Token: p, Logprob: lp, Bytes: byteInts(p)})
			next := lp
			for len(e.TopLogprobs) < top {
				alt := words[rng.IntN(len(words))]
				if alt == p {
					continue
				}
				next -= round6(0.2 + rng.Float64()*2)
				e.TopLogprobs = append(e.TopLogprobs, topLogprob{Token: alt, Logprob: next, Bytes: byteInts(alt)})
			}
		}
		out[i] = e
	}
	return out
}

func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }

func byteInts(s string) []int {
	out := make([]int, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = int(s[i])
	}
	return out
}

// marshalJSON encodes v compactly, without HTML escaping, as models write it.
func marshalJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "{}"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func randomAlnum(rng *rand.Rand, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// logprobsJSON is a choice's logprobs member: null unless asked for.
func (a answer) logprobsJSON(upTo int) json.RawMessage {
	if a.logprobs == nil {
		return null()
	}
	content := a.logprobs
	if upTo >= 0 {
		content = a.logprobs[upTo : upTo+1]
	}
	b, _ := json.Marshal(struct {
		Content []tokenLogprob  `json:"content"`
		Refusal json.RawMessage `json:"refusal"`
	}{content, null()})
	return b
}

// countText is what the answer's completion tokens are counted from.
func (a answer) countText() string {
	if len(a.calls) == 0 {
		return a.text()
	}
	var b strings.Builder
	for _, c := range a.calls {
		fmt.Fprintf(&b, "%s%s", c.name, c.args)
	}
	return b.String()
}

// units is how many content chunks the answer streams: a piece each for
// text, and for each tool call a header chunk and a chunk per piece of its
// arguments.
func (a answer) units() int {
	if len(a.calls) == 0 {
		return len(a.pieces)
	}
	n := 0
	for _, c := range a.calls {
		n += 1 + len(c.pieces)
	}
	return n
}

// unit finds the k-th streamed unit of a tool-calling answer: the call's
// index, and the argument piece (-1 for the header chunk).
func (a answer) unit(k int) (call, piece int) {
	for i, c := range a.calls {
		if k == 0 {
			return i, -1
		}
		k--
		if k < len(c.pieces) {
			return i, k
		}
		k -= len(c.pieces)
	}
	return -1, -1
}
