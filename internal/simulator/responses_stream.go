package simulator

import (
	"encoding/json"
	"net/http"
)

// responseEvents writes a Responses stream: every event has an event: line
// naming its type, and a data: object with the same type and a sequence
// number.
type responseEvents struct {
	sse *sse
	seq int
}

func (e *responseEvents) send(typ string, fields map[string]any) {
	if e.sse.err != nil {
		return
	}
	fields["type"] = typ
	fields["sequence_number"] = e.seq
	e.seq++
	b, err := json.Marshal(fields)
	if err != nil {
		e.sse.err = err
		return
	}
	buf := append(e.sse.buf[:0], "event: "...)
	buf = append(buf, typ...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, b...)
	e.sse.buf = append(buf, '\n', '\n')
	e.sse.raw(e.sse.buf)
}

// streamResponse sends a response as OpenAI streams it: created and
// in_progress, then per output item its added event, its deltas (text or
// function arguments) paced by the latency model, its done events, and
// response.completed (or response.incomplete) with usage.
func (s *Server) streamResponse(w http.ResponseWriter, r *http.Request, stored *storedResponse, a answer,
	final func(*responseObject)) {
	ev := &responseEvents{sse: startSSE(w)}
	ev.send("response.created", map[string]any{"response": stored.obj})
	ev.send("response.in_progress", map[string]any{"response": stored.obj})
	if !s.wait(r, s.opts.Latency.TimeToFirstToken) || ev.sse.err != nil {
		s.stats.canceled.Add(1)
		return
	}
	done := stored.obj
	final(&done)
	first := true
	pace := func() bool {
		if !first && !s.wait(r, s.perToken()) {
			return false
		}
		first = false
		s.stats.completionTokens.Add(1)
		return ev.sse.err == nil
	}
	for i, item := range done.Output {
		added := item
		switch item.Type {
		case "message":
			empty := []outputText{}
			added.Content, added.Status = &empty, "in_progress"
			ev.send("response.output_item.added", map[string]any{"output_index": i, "item": added})
			part := outputText{Type: "output_text", Text: "", Annotations: []struct{}{}, Logprobs: []tokenLogprob{}}
			ev.send("response.content_part.added", map[string]any{"item_id": item.ID, "output_index": i, "content_index": 0, "part": part})
			for _, p := range a.pieces {
				if !pace() {
					s.stats.canceled.Add(1)
					return
				}
				ev.send("response.output_text.delta", map[string]any{"item_id": item.ID, "output_index": i, "content_index": 0,
					"delta": p, "logprobs": []tokenLogprob{}})
			}
			full := (*item.Content)[0]
			ev.send("response.output_text.done", map[string]any{"item_id": item.ID, "output_index": i, "content_index": 0,
				"text": full.Text, "logprobs": []tokenLogprob{}})
			ev.send("response.content_part.done", map[string]any{"item_id": item.ID, "output_index": i, "content_index": 0, "part": full})
		case "function_call":
			empty := ""
			added.Arguments, added.Status = &empty, "in_progress"
			ev.send("response.output_item.added", map[string]any{"output_index": i, "item": added})
			for _, p := range a.calls[i].pieces {
				if !pace() {
					s.stats.canceled.Add(1)
					return
				}
				ev.send("response.function_call_arguments.delta", map[string]any{"item_id": item.ID, "output_index": i, "delta": p})
			}
			ev.send("response.function_call_arguments.done", map[string]any{"item_id": item.ID, "output_index": i, "arguments": *item.Arguments})
		}
		ev.send("response.output_item.done", map[string]any{"output_index": i, "item": item})
	}
	kind := "response.completed"
	if done.Status == "incomplete" {
		kind = "response.incomplete"
	}
	stored.obj = done
	if done.Store {
		s.responses.put(stored)
	}
	ev.send(kind, map[string]any{"response": done})
	if ev.sse.err != nil {
		s.stats.canceled.Add(1)
	}
}
