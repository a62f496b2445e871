package simulator

import (
	"encoding/json"
	"net/http"
	"time"
)

// serveMessage sends the whole answer after the model's latency.
func (s *Server) serveMessage(w http.ResponseWriter, r *http.Request, a *msgAnswer) {
	if !s.wait(r, s.opts.Latency.TimeToFirstToken+time.Duration(max(a.pieces()-1, 0))*s.perToken()) {
		s.stats.canceled.Add(1)
		return
	}
	s.stats.succeeded.Add(1)
	s.stats.promptTokens.Add(int64(a.usage.input + a.usage.cacheRead + a.usage.cacheWrite()))
	s.stats.completionTokens.Add(int64(a.output))
	writeJSON(w, http.StatusOK, []byte(marshalJSON(a.message(true))))
}

// pieces is how many deltas the answer streams.
func (a *msgAnswer) pieces() int {
	n := 0
	for _, b := range a.blocks {
		n += len(b.pieces)
	}
	return n
}

// Streamed event shapes, in Anthropic's key order.
type (
	msgEventMessage struct {
		Type    string         `json:"type"`
		Message msgWireMessage `json:"message"`
	}
	msgEventBlock struct {
		Type         string          `json:"type"`
		Index        int             `json:"index"`
		ContentBlock json.RawMessage `json:"content_block"`
	}
	msgEventDelta struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
		Delta any    `json:"delta"`
	}
	msgEventStop struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}
	msgEventMessageDelta struct {
		Type  string `json:"type"`
		Delta struct {
			StopReason   string  `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage struct {
			InputTokens              int `json:"input_tokens"`
			CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
			CacheReadInputTokens     int `json:"cache_read_input_tokens"`
			OutputTokens             int `json:"output_tokens"`
		} `json:"usage"`
	}
	msgTextDelta struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	msgJSONDelta struct {
		Type        string `json:"type"`
		PartialJSON string `json:"partial_json"`
	}
	msgThinkingDelta struct {
		Type     string `json:"type"`
		Thinking string `json:"thinking"`
	}
	msgSignatureDelta struct {
		Type      string `json:"type"`
		Signature string `json:"signature"`
	}
	msgEventType struct {
		Type string `json:"type"`
	}
)

// streamMessage sends the answer as Anthropic streams it: message_start,
// then per block content_block_start, its deltas (a ping after the first
// start), content_block_stop, then message_delta with the stop reason and
// the final usage, and message_stop. Each event has its event: line. The
// first delta waits the time to first token, each later one the time per
// token. A dropped stream aborts the connection without message_stop.
func (s *Server) streamMessage(w http.ResponseWriter, r *http.Request, a *msgAnswer) {
	dropAt := -1
	if total := a.pieces(); s.rnd.hit(s.opts.Faults.DropStreamRate) {
		dropAt = 0
		if total > 1 {
			dropAt = 1 + s.rnd.intN(total-1)
		}
	}
	e := startSSE(w)
	s.stats.succeeded.Add(1)
	s.stats.promptTokens.Add(int64(a.usage.input + a.usage.cacheRead + a.usage.cacheWrite()))
	e.event("message_start", msgEventMessage{"message_start", a.message(false)})
	sent := 0
	for i, b := range a.blocks {
		e.event("content_block_start", msgEventBlock{"content_block_start", i, b.block(false)})
		if i == 0 {
			e.event("ping", msgEventType{"ping"})
		}
		if b.typ == "tool_use" {
			e.event("content_block_delta", msgEventDelta{"content_block_delta", i, msgJSONDelta{"input_json_delta", ""}})
		}
		for _, p := range b.pieces {
			wait := s.perToken()
			if sent == 0 {
				wait = s.opts.Latency.TimeToFirstToken
			}
			if !s.wait(r, wait) || e.err != nil {
				s.stats.canceled.Add(1)
				return
			}
			if sent == dropAt {
				s.stats.injectedDrops.Add(1)
				s.log.Debug("simulator: injected stream drop", "deployment", a.dep.Name, "after_tokens", sent)
				panic(http.ErrAbortHandler)
			}
			var d any
			switch b.typ {
			case "thinking":
				d = msgThinkingDelta{"thinking_delta", p}
			case "tool_use":
				d = msgJSONDelta{"input_json_delta", p}
			default:
				d = msgTextDelta{"text_delta", p}
			}
			e.event("content_block_delta", msgEventDelta{"content_block_delta", i, d})
			sent++
		}
		if b.typ == "thinking" {
			e.event("content_block_delta", msgEventDelta{"content_block_delta", i, msgSignatureDelta{"signature_delta", b.signature}})
		}
		e.event("content_block_stop", msgEventStop{"content_block_stop", i})
	}
	if sent == 0 && !s.wait(r, s.opts.Latency.TimeToFirstToken) {
		s.stats.canceled.Add(1)
		return
	}
	var md msgEventMessageDelta
	md.Type = "message_delta"
	md.Delta.StopReason = a.stopReason
	if a.stopSequence != "" {
		md.Delta.StopSequence = &a.stopSequence
	}
	md.Usage.InputTokens = a.usage.input
	md.Usage.CacheCreationInputTokens = a.usage.cacheWrite()
	md.Usage.CacheReadInputTokens = a.usage.cacheRead
	md.Usage.OutputTokens = a.output
	e.event("message_delta", md)
	e.event("message_stop", msgEventType{"message_stop"})
	if e.err != nil {
		s.stats.canceled.Add(1)
		return
	}
	s.stats.completionTokens.Add(int64(a.output))
}

// event writes v as one named event: an event: line, then its data.
func (e *sse) event(name string, v any) {
	if e.err != nil {
		return
	}
	e.buf = append(e.buf[:0], "event: "...)
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, "\ndata: "...)
	e.buf = append(e.buf, marshalJSON(v)...)
	e.buf = append(e.buf, '\n', '\n')
	e.raw(e.buf)
}
