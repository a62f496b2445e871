package tokens

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/openai"
)

// The decoder PromptWithin used before it read the JSON in place: one
// json.Unmarshal of each member into any values, then a walk over them. It
// stays here as the oracle the raw walk is fuzzed against.

// decodedCount is promptCount over decoded values.
type decodedCount struct{ promptCount }

func (c *Counter) decodedPromptWithin(ctx context.Context, model string, r *openai.Request, maxExactBytes int) (int, error) {
	if r == nil {
		return 0, nil
	}
	p := decodedCount{promptCount: promptCount{ctx: ctx, c: c, v: c.vocab(model), budget: maxExactBytes}}
	if p.v != nil {
		p.m = c.mergers.Get().(*merger)
		defer c.mergers.Put(p.m)
	}
	if msgs, ok := decode(r.Messages); ok {
		if list, isList := msgs.([]any); isList {
			for _, m := range list {
				p.n += tokensPerMessage
				if obj, isObj := m.(map[string]any); isObj {
					if role, _ := obj["role"].(string); role != "" {
						p.text(role)
					}
					if name, _ := obj["name"].(string); name != "" {
						p.n += tokensPerName
					}
				}
			}
			p.n += tokensPerReply
		}
		p.walk(msgs, "")
	}
	for _, raw := range []json.RawMessage{r.Prompt, r.Input} {
		if v, ok := decode(raw); ok {
			p.walk(v, "")
			p.n += countTokenIDs(v)
		}
	}
	if r.Instructions != "" {
		p.text(r.Instructions)
	}
	return p.n, p.err
}

// walk counts the string leaves of a decoded JSON value that carry
// model-visible text. It keeps the rules of openai.Request.PromptText
// (keys, skipped media parts), which a test holds it to, but works on a
// value decoded once instead of decoding again.
func (p *decodedCount) walk(v any, key string) {
	switch t := v.(type) {
	case string:
		switch key {
		case "", "content", "text", "name", "arguments", "input", "prompt", "output", "instructions":
			p.text(t)
		}
	case []any:
		for _, e := range t {
			p.walk(e, key)
		}
	case map[string]any:
		for k, e := range t {
			if k == "image_url" || k == "input_audio" || k == "file" {
				continue
			}
			p.walk(e, k)
		}
	}
}

// decode parses a JSON member; absent or malformed members count nothing.
func decode(raw json.RawMessage) (any, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	return v, true
}

// countTokenIDs counts the integers of a pre-tokenized prompt or input:
// [1,2,3] or [[1,2],[3]]. Other shapes count zero here (their text is
// counted by walk).
func countTokenIDs(v any) int {
	list, ok := v.([]any)
	if !ok {
		return 0
	}
	if allNumbers(list) {
		return len(list)
	}
	n := 0
	for _, e := range list {
		if ids, ok := e.([]any); ok && allNumbers(ids) {
			n += len(ids)
		}
	}
	return n
}

// allNumbers reports whether list decodes as []float64 (null elements
// included, as encoding/json accepts them there).
func allNumbers(list []any) bool {
	for _, e := range list {
		switch e.(type) {
		case float64, nil:
		default:
			return false
		}
	}
	return true
}

// walkBodies are request bodies of every shape the walk handles.
var walkBodies = []string{
	cookbookMessages,
	`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:x"}}]},{"role":"tool","content":"r","tool_call_id":"x"},{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{\"x\":1}"}}]}]}`,
	`{"messages":"just a string"}`,
	`{"messages":[1,"x",null,{"role":7,"name":"n"}]}`,
	`{"messages":[{"role":"us\u0065r","name":"","content":"caf\u00e9 \ud83d\ude00 \ud800 tab\t quote\" slash\/ back\\"}, {"role":"a","role":"system","name":"x","name":7}]}`,
	`{"messages":[[{"content":"nested"}],{"cont\u0065nt":"escaped key"},{"image_url":"skipped","file":{"text":"skipped"}}]}`,
	`{"messages":null,"prompt":null,"input":null}`,
	`{"messages":[],"prompt":[],"input":{}}`,
	`{"prompt":["a","b"],"input":[{"role":"user","content":[{"type":"input_text","text":"t"},{"type":"input_audio","input_audio":{"data":"zz"}}]}],"instructions":"i"}`,
	`{"input":{"output":"o","prompt":"p","other":"no"}}`,
	`{"prompt":[[1,2],[3]],"input":[1,null,2.5e3,-4]}`,
	`{"prompt":[[1,"a"],[2,null],true],"input":[1,true]}`,
	`{"prompt":[[],[1]],"input":[[1,[2]],"x"]}`,
	"{\"messages\":[{\"role\":\"user\",\"content\":\"bad \xff\xfe utf8\"}]}",
	` { "messages" : [ { "role" : "user" , "content" : "spaced" } , "s" ] , "prompt" : "p" } `,
}

// TestPromptMatchesDecoder: the raw walk counts what the decoder counted,
// and PromptBound is never below it.
func TestPromptMatchesDecoder(t *testing.T) {
	c := New()
	for _, body := range walkBodies {
		checkAgainstDecoder(t, c, []byte(body))
	}
}

// FuzzPromptMatchesDecoder holds the raw walk to the decoder on arbitrary
// bodies that openai.ParseRequest accepts. Objects with a repeated key are
// the one difference: a decode into a map keeps the last value, the walk
// counts every one (so never less).
func FuzzPromptMatchesDecoder(f *testing.F) {
	for _, s := range walkBodies {
		f.Add(s)
	}
	c := New()
	f.Fuzz(func(t *testing.T, body string) {
		checkAgainstDecoder(t, c, []byte(body))
	})
}

func checkAgainstDecoder(t *testing.T, c *Counter, body []byte) {
	t.Helper()
	r, err := openai.ParseRequest(body)
	if err != nil {
		return
	}
	dup := hasRepeatedKey(body)
	for _, model := range []string{"gpt-4o", "gpt-4"} {
		for _, budget := range []int{math.MaxInt, 0} {
			want, _ := c.decodedPromptWithin(context.Background(), model, r, budget)
			got, err := c.PromptWithin(context.Background(), model, r, budget)
			if err != nil {
				t.Fatalf("%q: %v", body, err)
			}
			if got != want && !(dup && got > want) {
				t.Fatalf("%s budget %d: PromptWithin = %d, decoder %d for %q", model, budget, got, want, body)
			}
			if b := PromptBound(r); b < got {
				t.Fatalf("PromptBound = %d below the count %d for %q", b, got, body)
			}
		}
	}
}

// hasRepeatedKey reports whether any object in body names a member twice.
func hasRepeatedKey(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack []map[string]bool
	expectKey := false
	var inObject []bool
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, map[string]bool{})
				inObject = append(inObject, true)
				expectKey = true
				continue
			case '[':
				inObject = append(inObject, false)
			case '}':
				stack = stack[:len(stack)-1]
				inObject = inObject[:len(inObject)-1]
			case ']':
				inObject = inObject[:len(inObject)-1]
			}
		case string:
			if expectKey && len(inObject) > 0 && inObject[len(inObject)-1] {
				m := stack[len(stack)-1]
				if m[v] {
					return true
				}
				m[v] = true
				expectKey = false
				continue
			}
		}
		expectKey = len(inObject) > 0 && inObject[len(inObject)-1]
	}
}

var _ = strings.Clone
