package simulator

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"strings"
)

// msgAnswer is a planned Messages answer: everything is decided before the
// first byte, so streamed and plain answers carry the same content.
type msgAnswer struct {
	dep          *deployment
	id           string
	blocks       []msgOut
	stopReason   string // end_turn, max_tokens, stop_sequence, tool_use
	stopSequence string // the stop sequence met, when stopReason is stop_sequence
	usage        msgUsage
	output       int // output tokens
}

// msgOut is one content block of an answer, as its streamed pieces.
type msgOut struct {
	typ       string   // text, tool_use, thinking
	pieces    []string // text, input JSON or thinking, about a token each
	id, name  string   // tool_use
	signature string   // thinking
}

func (b msgOut) text() string { return strings.Join(b.pieces, "") }

// planMessage draws the answer to req: an optional thinking block, then
// either tool calls (after a short sentence when the model chose to call
// them) or prose, cut by stop_sequences and max_tokens.
func (s *Server) planMessage(dep *deployment, req *msgRequest, u msgUsage) *msgAnswer {
	h := newHasher(s.opts.Seed, dep.Model)
	h.bytes(req.seed)
	rng := h.rand()
	a := &msgAnswer{dep: dep, id: s.rnd.anthropicID("msg_01", 22), usage: u, stopReason: "end_turn"}
	budget := req.maxTokens
	if req.thinking > 0 {
		pieces, _ := dep.vocab.generate(rng, min(req.thinking, budget))
		sig := make([]byte, 48)
		for i := range sig {
			sig[i] = byte(rng.IntN(256))
		}
		a.blocks = append(a.blocks, msgOut{typ: "thinking", pieces: pieces, signature: base64.StdEncoding.EncodeToString(sig)})
		budget -= len(pieces)
	}
	if calls := req.callsTools(rng.IntN); len(calls) > 0 && budget > 0 {
		s.planToolUse(a, req, calls, rng, budget)
	} else if budget > 0 {
		pieces, _ := dep.vocab.generate(rng, 0)
		if cut, stop := cutAtStopSequence(pieces, req.stops); stop != "" && len(cut) <= budget {
			pieces, a.stopReason, a.stopSequence = cut, "stop_sequence", stop
		}
		if len(pieces) > budget {
			pieces, a.stopReason = pieces[:budget], "max_tokens"
		}
		a.blocks = append(a.blocks, msgOut{typ: "text", pieces: pieces})
	} else {
		a.stopReason = "max_tokens"
	}
	for _, b := range a.blocks {
		text := b.text()
		if b.typ == "tool_use" {
			text = b.name + text
		}
		a.output += s.tc.Count(dep.Model, text)
	}
	return a
}

// planToolUse calls each tool with input drawn from its schema. With
// tool_choice auto the model says a sentence first, as Claude does; with
// any or tool the API makes it call at once. A call that does not fit in
// the budget is left out and the answer stops at max_tokens.
func (s *Server) planToolUse(a *msgAnswer, req *msgRequest, calls []msgTool, rng *rand.Rand, budget int) {
	if req.choice.Type == "auto" {
		pieces, _ := a.dep.vocab.generate(rng, 0)
		for i, p := range pieces {
			if p == "." {
				pieces = pieces[:i+1]
				break
			}
		}
		if len(pieces) > budget {
			a.blocks = append(a.blocks, msgOut{typ: "text", pieces: pieces[:budget]})
			a.stopReason = "max_tokens"
			return
		}
		a.blocks = append(a.blocks, msgOut{typ: "text", pieces: pieces})
		budget -= len(pieces)
	}
	a.stopReason = "tool_use"
	for _, t := range calls {
		input := marshalJSON(newSchemaGen(rng, a.dep.vocab.lower, t.schema).value(t.schema, 0))
		pieces := splitPieces(input)
		if len(pieces) > budget {
			a.stopReason = "max_tokens"
			return
		}
		budget -= len(pieces)
		a.blocks = append(a.blocks, msgOut{typ: "tool_use", pieces: pieces, id: "toolu_01" + randomAlnum(rng, 22), name: t.Name})
	}
}

// callsTools decides which tools an answer calls, steered like the chat
// side: tool_choice tool calls that tool; none never calls; after tool
// results an auto choice answers in text, so agent loops end; otherwise the
// tools the last user message names (get_weather or "get weather") are
// called, all of them unless disable_parallel_tool_use, or one drawn from
// the seed when none is named.
func (r *msgRequest) callsTools(pick func(int) int) []msgTool {
	if len(r.tools) == 0 {
		return nil
	}
	switch r.choice.Type {
	case "none":
		return nil
	case "tool":
		for _, t := range r.tools {
			if t.Name == r.choice.Name {
				return []msgTool{t}
			}
		}
		return nil
	case "auto":
		if r.toolResult {
			return nil
		}
	}
	var named []msgTool
	for _, t := range r.tools {
		n := strings.ToLower(t.Name)
		if strings.Contains(r.lastUser, n) || strings.Contains(r.lastUser, strings.ReplaceAll(n, "_", " ")) {
			named = append(named, t)
		}
	}
	switch {
	case len(named) == 0:
		return []msgTool{r.tools[pick(len(r.tools))]}
	case r.choice.DisableParallelToolUse:
		return named[:1]
	}
	return named
}

// cutAtStopSequence ends the text before the first stop sequence met and
// names it; stop is empty when none is met.
func cutAtStopSequence(pieces, stops []string) (cut []string, stop string) {
	text := strings.Join(pieces, "")
	at := -1
	for _, s := range stops {
		if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at) {
			at, stop = i, s
		}
	}
	if at < 0 {
		return pieces, ""
	}
	cut, _ = cutAtStop(pieces, []string{stop})
	return cut, stop
}

// Wire shapes of the answer, in Anthropic's key order.

type msgWireUsage struct {
	InputTokens              int              `json:"input_tokens"`
	CacheCreationInputTokens int              `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int              `json:"cache_read_input_tokens"`
	CacheCreation            msgCacheCreation `json:"cache_creation"`
	OutputTokens             int              `json:"output_tokens"`
	ServiceTier              string           `json:"service_tier"`
}

type msgCacheCreation struct {
	Ephemeral5m int `json:"ephemeral_5m_input_tokens"`
	Ephemeral1h int `json:"ephemeral_1h_input_tokens"`
}

type msgWireMessage struct {
	ID           string            `json:"id"`
	Type         string            `json:"type"`
	Role         string            `json:"role"`
	Model        string            `json:"model"`
	Content      []json.RawMessage `json:"content"`
	StopReason   *string           `json:"stop_reason"`
	StopSequence *string           `json:"stop_sequence"`
	Usage        msgWireUsage      `json:"usage"`
}

func (a *msgAnswer) wireUsage(output int) msgWireUsage {
	return msgWireUsage{
		InputTokens:              a.usage.input,
		CacheCreationInputTokens: a.usage.cacheWrite(),
		CacheReadInputTokens:     a.usage.cacheRead,
		CacheCreation:            msgCacheCreation{a.usage.cacheWrite5m, a.usage.cacheWrite1h},
		OutputTokens:             output,
		ServiceTier:              "standard",
	}
}

// block renders a content block whole (full) or as content_block_start
// announces it (empty text, empty input).
func (b msgOut) block(full bool) json.RawMessage {
	var v any
	switch b.typ {
	case "thinking":
		t := struct {
			Type      string `json:"type"`
			Thinking  string `json:"thinking"`
			Signature string `json:"signature"`
		}{Type: "thinking"}
		if full {
			t.Thinking, t.Signature = b.text(), b.signature
		}
		v = t
	case "tool_use":
		input := json.RawMessage("{}")
		if full {
			input = json.RawMessage(b.text())
		}
		v = struct {
			Type  string          `json:"type"`
			ID    string          `json:"id"`
			Name  string          `json:"name"`
			Input json.RawMessage `json:"input"`
		}{"tool_use", b.id, b.name, input}
	default:
		t := struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{Type: "text"}
		if full {
			t.Text = b.text()
		}
		v = t
	}
	return json.RawMessage(marshalJSON(v))
}

// message renders the whole answer, or the shell message_start carries.
func (a *msgAnswer) message(full bool) msgWireMessage {
	m := msgWireMessage{
		ID: a.id, Type: "message", Role: "assistant", Model: a.dep.reported,
		Content: []json.RawMessage{},
		Usage:   a.wireUsage(1),
	}
	if full {
		for _, b := range a.blocks {
			m.Content = append(m.Content, b.block(true))
		}
		m.StopReason = &a.stopReason
		if a.stopSequence != "" {
			m.StopSequence = &a.stopSequence
		}
		m.Usage = a.wireUsage(a.output)
	}
	return m
}
