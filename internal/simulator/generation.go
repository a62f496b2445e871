package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/moat-gw/moat/internal/openai"
)

// maxChoices is OpenAI's upper bound for n (and for prompts × n).
const maxChoices = 128

// generation is a planned chat or completions answer: everything is decided
// before the first byte, so streamed and plain answers carry the same text.
type generation struct {
	dep          *deployment
	chat         bool
	id           string
	created      int64
	prompts      int // entries of prompt_filter_results
	answers      []answer
	promptTokens int
	stream       bool
	includeUsage bool
}

// answer is one choice: its one-token pieces (or tool calls instead), why
// it ended, and its logprobs when they were asked for.
type answer struct {
	pieces   []string
	finish   string
	calls    []toolCall
	logprobs []tokenLogprob
	filtered string // the content filter category that cut the answer
}

// planGeneration validates a chat or completions request as the model would
// and draws its answers. bad is a 400 body when the request is invalid.
func (s *Server) planGeneration(dep *deployment, op openai.Operation, req *openai.Request, body []byte, promptTokens int) (g *generation, bad []byte) {
	opts, bad := parseChatOptions(body, op.Name == "chat")
	if bad != nil {
		return nil, bad
	}
	promptFilter, completionFilter := filterTriggers(body)
	if promptFilter != "" {
		return nil, promptFilteredError(promptFilter)
	}
	limit := 0
	for _, f := range []struct {
		name string
		v    *int
	}{{"max_completion_tokens", req.MaxCompletionTokens}, {"max_tokens", req.MaxTokens}} {
		if f.v == nil {
			continue
		}
		if *f.v < 1 {
			return nil, belowMin(f.name, 1, *f.v)
		}
		if limit == 0 {
			limit = *f.v
		}
	}
	n := 1
	if req.N != nil {
		n = *req.N
		if n < 1 {
			return nil, belowMin("n", 1, n)
		}
		if n > maxChoices {
			return nil, aboveMax("n", maxChoices, n)
		}
	}
	var prompts []*hasher
	g = &generation{
		dep:          dep,
		chat:         op.Name == "chat",
		created:      s.opts.Now().Unix(),
		promptTokens: promptTokens,
		stream:       req.Stream,
		includeUsage: req.Stream && req.WantsUsageChunk(),
	}
	if g.chat {
		h, bad := s.chatSeed(dep, req.Messages)
		if bad != nil {
			return nil, bad
		}
		prompts = []*hasher{h}
		g.id = s.rnd.id("chatcmpl-")
	} else {
		var bad []byte
		if prompts, bad = s.promptSeeds(dep, req.Prompt); bad != nil {
			return nil, bad
		}
		if len(prompts)*n > maxChoices {
			return nil, modelError(fmt.Sprintf("Too many choices: %d prompts with n=%d exceed %d.", len(prompts), n, maxChoices),
				"invalid_request_error", "n", "")
		}
		g.id = s.rnd.id("cmpl-")
	}
	g.prompts = len(prompts)
	for _, p := range prompts {
		if opts.seed != nil {
			p.int(*opts.seed) // the same seed, the same answer; another seed, another
		}
		for j := range n {
			h := *p
			h.int(int64(j))
			a := shapeAnswer(dep, opts, g.chat, h.rand(), limit)
			if completionFilter != "" && len(a.calls) == 0 {
				// The filter cuts the answer where the content tripped it.
				a.pieces, a.finish, a.filtered = a.pieces[:len(a.pieces)/2], "content_filter", completionFilter
				if a.logprobs != nil {
					a.logprobs = a.logprobs[:len(a.pieces)]
				}
			}
			g.answers = append(g.answers, a)
		}
	}
	return g, nil
}

// chatSeed hashes the messages (compacted, so whitespace does not matter).
func (s *Server) chatSeed(dep *deployment, messages json.RawMessage) (*hasher, []byte) {
	raw := bytes.TrimSpace(messages)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, modelError("Missing required parameter: 'messages'.", "invalid_request_error", "messages", "missing_required_parameter")
	case raw[0] != '[':
		return nil, modelError("Invalid type for 'messages': expected an array of objects.", "invalid_request_error", "messages", "invalid_type")
	}
	var msgs []json.RawMessage
	if json.Unmarshal(raw, &msgs) != nil || len(msgs) == 0 {
		return nil, modelError("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
			"invalid_request_error", "messages", "empty_array")
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, raw)
	h := newHasher(s.opts.Seed, dep.Model)
	h.bytes(buf.Bytes())
	return h, nil
}

// promptSeeds hashes each prompt of a completions request: a string, an
// array of strings, an array of token IDs or an array of such arrays. An
// absent prompt is OpenAI's default, the empty document.
func (s *Server) promptSeeds(dep *deployment, prompt json.RawMessage) ([]*hasher, []byte) {
	seed := func(text string) *hasher {
		h := newHasher(s.opts.Seed, dep.Model)
		h.str(text)
		return h
	}
	invalid := modelError("Invalid type for 'prompt': expected a string, an array of strings, an array of integers or an array of integer arrays.",
		"invalid_request_error", "prompt", "invalid_type")
	raw := bytes.TrimSpace(prompt)
	if len(raw) == 0 || string(raw) == "null" {
		return []*hasher{seed("")}, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []*hasher{seed(one)}, nil
	}
	var many []json.RawMessage
	if json.Unmarshal(raw, &many) != nil {
		return nil, invalid
	}
	if len(many) == 0 {
		return nil, modelError("Invalid 'prompt': empty array. Expected an array with minimum length 1, but got an empty array instead.",
			"invalid_request_error", "prompt", "empty_array")
	}
	var ids []int64
	if json.Unmarshal(raw, &ids) == nil {
		return []*hasher{seed(idsText(ids))}, nil
	}
	out := make([]*hasher, 0, len(many))
	for _, e := range many {
		if json.Unmarshal(e, &one) == nil {
			out = append(out, seed(one))
			continue
		}
		if json.Unmarshal(e, &ids) != nil {
			return nil, invalid
		}
		out = append(out, seed(idsText(ids)))
	}
	return out, nil
}

// idsText renders token IDs as the text that seeds their answer.
func idsText(ids []int64) string {
	var b strings.Builder
	b.WriteString("\x00ids")
	for _, id := range ids {
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(id, 10))
	}
	return b.String()
}

func belowMin(param string, lo, got int) []byte {
	return modelError(fmt.Sprintf("Invalid '%s': integer below minimum value. Expected a value >= %d, but got %d instead.", param, lo, got),
		"invalid_request_error", param, "integer_below_min_value")
}

func aboveMax(param string, hi, got int) []byte {
	return modelError(fmt.Sprintf("Invalid '%s': integer above maximum value. Expected a value <= %d, but got %d instead.", param, hi, got),
		"invalid_request_error", param, "integer_above_max_value")
}

// text is an answer's full text.
func (a answer) text() string { return strings.Join(a.pieces, "") }

// completionTokens counts the generated text with the deployment's tokenizer.
func (s *Server) completionTokens(g *generation) int {
	n := 0
	for _, a := range g.answers {
		n += s.tc.Count(g.dep.Model, a.countText())
	}
	return n
}

// longest is the most pieces any answer has: the number of streaming rounds.
func (g *generation) longest() int {
	n := 0
	for _, a := range g.answers {
		n = max(n, a.units())
	}
	return n
}
