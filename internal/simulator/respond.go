package simulator

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// serveGeneration answers a planned chat or completions request, whole or
// streamed, after the simulated model's latency.
func (s *Server) serveGeneration(w http.ResponseWriter, r *http.Request, g *generation) {
	if g.stream {
		s.streamGeneration(w, r, g)
		return
	}
	rounds := g.longest()
	if !s.wait(r, s.opts.Latency.TimeToFirstToken+time.Duration(max(rounds-1, 0))*s.perToken()) {
		s.stats.canceled.Add(1)
		return
	}
	completion := s.completionTokens(g)
	u := newUsage(g.promptTokens, completion)
	var body []byte
	if g.chat {
		c := chatCompletion{
			Choices:             make([]chatChoice, len(g.answers)),
			Created:             g.created,
			ID:                  g.id,
			Model:               g.dep.reported,
			Object:              "chat.completion",
			PromptFilterResults: promptFilterResults(1),
			SystemFingerprint:   g.dep.fingerprint,
			Usage:               u,
		}
		for i, a := range g.answers {
			msg := chatMessage{Annotations: []struct{}{}, Content: quoted(a.text()), Refusal: null(), Role: "assistant"}
			if len(a.calls) > 0 {
				msg.Content = null()
				for _, tc := range a.calls {
					msg.ToolCalls = append(msg.ToolCalls, wireToolCall{ID: tc.id, Type: "function",
						Function: wireFunction{Name: tc.name, Arguments: tc.args}})
				}
			}
			c.Choices[i] = chatChoice{
				ContentFilterResults: a.filters(),
				FinishReason:         a.finish,
				Index:                i,
				Logprobs:             a.logprobsJSON(-1),
				Message:              msg,
			}
		}
		body, _ = json.Marshal(c)
	} else {
		ub, _ := json.Marshal(u)
		c := textCompletion{
			Choices:             make([]textChoice, len(g.answers)),
			Created:             g.created,
			ID:                  g.id,
			Model:               g.dep.reported,
			Object:              "text_completion",
			PromptFilterResults: promptFilterResults(g.prompts),
			Usage:               ub,
		}
		for i, a := range g.answers {
			c.Choices[i] = textChoice{
				ContentFilterResults: a.filters(),
				FinishReason:         quoted(a.finish),
				Index:                i,
				Logprobs:             null(),
				Text:                 a.text(),
			}
		}
		body, _ = json.Marshal(c)
	}
	w.Header().Set("cache-control", "no-cache, must-revalidate")
	s.stats.succeeded.Add(1)
	s.stats.promptTokens.Add(int64(g.promptTokens))
	s.stats.completionTokens.Add(int64(completion))
	writeJSON(w, http.StatusOK, body)
}

// streamGeneration sends the answer as Azure streams it (§1.9): the prompt
// filter chunk, a role chunk per choice (chat), one content chunk per token
// paced by the latency model, a finish chunk per choice, the usage chunk
// when asked for, then [DONE]. It stops as soon as the client goes away.
func (s *Server) streamGeneration(w http.ResponseWriter, r *http.Request, g *generation) {
	rounds := g.longest()
	dropAt := -1
	if s.rnd.hit(s.opts.Faults.DropStreamRate) {
		dropAt = 0
		if rounds > 1 {
			dropAt = 1 + s.rnd.intN(rounds-1)
		}
	}
	sse := startSSE(w)
	s.stats.succeeded.Add(1)
	s.stats.promptTokens.Add(int64(g.promptTokens))
	sse.send(promptFilterChunk{Choices: []struct{}{}, PromptFilterResults: promptFilterResults(g.prompts)})
	if !s.wait(r, s.opts.Latency.TimeToFirstToken) || sse.err != nil {
		s.stats.canceled.Add(1)
		return
	}
	if g.chat {
		for i := range g.answers {
			sse.send(g.roleChunk(i))
		}
	}
	for round := range rounds {
		if round > 0 && !s.wait(r, s.perToken()) {
			s.stats.canceled.Add(1)
			return
		}
		if round == dropAt {
			s.stats.injectedDrops.Add(1)
			s.log.Debug("simulator: injected stream drop", "deployment", g.dep.Name, "after_tokens", round)
			// ErrAbortHandler makes net/http cut the connection without
			// ending the chunked body, as a network failure would.
			panic(http.ErrAbortHandler)
		}
		for i, a := range g.answers {
			if round < a.units() {
				sse.send(g.contentChunk(i, a, round))
				s.stats.completionTokens.Add(1)
			}
		}
		if sse.err != nil || r.Context().Err() != nil {
			s.stats.canceled.Add(1)
			return
		}
	}
	for i, a := range g.answers {
		sse.send(g.finishChunk(i, a))
	}
	if g.includeUsage {
		sse.send(g.usageChunk(newUsage(g.promptTokens, s.completionTokens(g))))
	}
	sse.raw([]byte("data: [DONE]\n\n"))
	if sse.err != nil {
		s.stats.canceled.Add(1)
	}
}

// usageField is what non-usage chunks carry in "usage": null when the client
// asked for the usage chunk (the spec says every other chunk then has a null
// usage), nothing otherwise.
func (g *generation) usageField() json.RawMessage {
	if g.includeUsage {
		return null()
	}
	return nil
}

func (g *generation) chatChunk(choices []chunkChoice) chatChunk {
	return chatChunk{
		Choices:           choices,
		Created:           g.created,
		ID:                g.id,
		Model:             g.dep.reported,
		Object:            "chat.completion.chunk",
		SystemFingerprint: g.dep.fingerprint,
		Usage:             g.usageField(),
	}
}

func (g *generation) textChunk(choices []textChoice) textCompletion {
	return textCompletion{
		Choices: choices,
		Created: g.created,
		ID:      g.id,
		Model:   g.dep.reported,
		Object:  "text_completion",
		Usage:   g.usageField(),
	}
}

func (g *generation) roleChunk(i int) any {
	content := quoted("")
	if len(g.answers[i].calls) > 0 {
		content = null()
	}
	return g.chatChunk([]chunkChoice{{
		ContentFilterResults: &choiceFilters{},
		Delta:                chunkDelta{Content: content, Refusal: null(), Role: "assistant"},
		FinishReason:         null(),
		Index:                i,
		Logprobs:             null(),
	}})
}

func (g *generation) contentChunk(i int, a answer, round int) any {
	if !g.chat {
		return g.textChunk([]textChoice{{
			ContentFilterResults: severityFilters(),
			FinishReason:         null(),
			Index:                i,
			Logprobs:             null(),
			Text:                 a.pieces[round],
		}})
	}
	if len(a.calls) > 0 {
		// A call's first chunk names it with empty arguments; the
		// arguments follow a piece at a time, as OpenAI streams them.
		ci, pi := a.unit(round)
		tc := a.calls[ci]
		d := wireToolCall{Index: &ci}
		if pi < 0 {
			d.ID, d.Type, d.Function.Name = tc.id, "function", tc.name
		} else {
			d.Function.Arguments = tc.pieces[pi]
		}
		return g.chatChunk([]chunkChoice{{
			ContentFilterResults: &choiceFilters{},
			Delta:                chunkDelta{ToolCalls: []wireToolCall{d}},
			FinishReason:         null(),
			Index:                i,
			Logprobs:             null(),
		}})
	}
	return g.chatChunk([]chunkChoice{{
		ContentFilterResults: severityFilters(),
		Delta:                chunkDelta{Content: quoted(a.pieces[round])},
		FinishReason:         null(),
		Index:                i,
		Logprobs:             a.logprobsJSON(round),
	}})
}

func (g *generation) finishChunk(i int, a answer) any {
	finish := a.finish
	filters := &choiceFilters{}
	if a.filtered != "" {
		filters = filteredChoice(a.filtered, false)
	}
	if !g.chat {
		return g.textChunk([]textChoice{{
			ContentFilterResults: filters,
			FinishReason:         quoted(finish),
			Index:                i,
			Logprobs:             null(),
		}})
	}
	return g.chatChunk([]chunkChoice{{
		ContentFilterResults: filters,
		FinishReason:         quoted(finish),
		Index:                i,
		Logprobs:             null(),
	}})
}

// usageChunk is the include_usage trailer: no choices, the whole usage.
func (g *generation) usageChunk(u usage) any {
	ub, _ := json.Marshal(u)
	if !g.chat {
		c := g.textChunk([]textChoice{})
		c.Usage = ub
		return c
	}
	c := g.chatChunk([]chunkChoice{})
	c.Usage = ub
	return c
}

// sse writes server-sent events, flushing each one. The first write error
// (the client went away) is kept and later sends do nothing.
type sse struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
	err error
}

// startSSE answers 200 with Azure's event-stream headers and returns the
// writer for the events.
func startSSE(w http.ResponseWriter) *sse {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("x-accel-buffering", "no")
	h.Set("cache-control", "no-cache, must-revalidate")
	w.WriteHeader(http.StatusOK)
	return newSSE(w)
}

func newSSE(w http.ResponseWriter) *sse {
	return &sse{w: w, rc: http.NewResponseController(w)}
}

// send writes v as one data: event.
func (e *sse) send(v any) {
	if e.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		e.err = err
		return
	}
	e.buf = append(e.buf[:0], "data: "...)
	e.buf = append(e.buf, b...)
	e.buf = append(e.buf, '\n', '\n')
	e.raw(e.buf)
}

// raw writes bytes that are already a whole event.
func (e *sse) raw(b []byte) {
	if e.err != nil {
		return
	}
	if _, e.err = e.w.Write(b); e.err != nil {
		return
	}
	if err := e.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		e.err = err
	}
}
