package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/openai"
)

// maxStoredResponses bounds the responses the simulator keeps for
// retrieval and previous_response_id; the oldest go first.
const maxStoredResponses = 10_000

// responseStore keeps stored responses, their input items and the
// conversation text a follow-up builds on.
type responseStore struct{ idStore[storedResponse] }

type storedResponse struct {
	obj     responseObject
	dep     *deployment
	input   []inputItem
	context string             // instructions, inputs and outputs of the chain so far, for prompt counting
	cancel  context.CancelFunc // a background job's, until it ends
}

func (st *responseStore) put(r *storedResponse) { st.idStore.put(r.obj.ID, r, maxStoredResponses) }

// snapshot copies a stored response's object under the lock, since a
// background job may still be changing it.
func (st *responseStore) snapshot(r *storedResponse) (obj responseObject) {
	st.locked(func() { obj = r.obj })
	return obj
}

func (st *responseStore) update(r *storedResponse, f func(*responseObject)) {
	st.locked(func() { f(&r.obj) })
}

// remove drops a stored response and stops its background job.
func (st *responseStore) remove(id string) bool {
	r, ok := st.idStore.remove(id)
	if ok && r.cancel != nil {
		r.cancel()
	}
	return ok
}

// serveResponses answers the Responses API: create, retrieve, delete,
// cancel and input_items.
func (s *Server) serveResponses(w http.ResponseWriter, r *http.Request, rt route) {
	if rt.responseID == "" {
		s.createResponse(w, r, rt)
		return
	}
	stored, ok := s.responses.get(rt.responseID)
	if !ok {
		writeJSON(w, http.StatusNotFound, modelError(fmt.Sprintf("Response with id '%s' not found.", rt.responseID),
			"invalid_request_error", "", ""))
		return
	}
	switch {
	case r.Method == http.MethodGet && rt.responseAction == "":
		s.writeResponse(w, s.responses.snapshot(stored))
	case r.Method == http.MethodDelete && rt.responseAction == "":
		s.responses.remove(rt.responseID)
		body, _ := json.Marshal(struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Deleted bool   `json:"deleted"`
		}{rt.responseID, "response.deleted", true})
		writeJSON(w, http.StatusOK, body)
	case r.Method == http.MethodPost && rt.responseAction == "cancel":
		obj := s.responses.snapshot(stored)
		if !obj.Background {
			writeJSON(w, http.StatusBadRequest, modelError("Only responses created with background=true can be cancelled.",
				"invalid_request_error", "", ""))
			return
		}
		s.responses.update(stored, func(o *responseObject) {
			if o.Status == "queued" || o.Status == "in_progress" {
				o.Status = "cancelled"
			}
		})
		if stored.cancel != nil {
			stored.cancel()
		}
		s.writeResponse(w, s.responses.snapshot(stored))
	case r.Method == http.MethodGet && rt.responseAction == "input_items":
		s.writeInputItems(w, stored.input)
	default:
		writeJSON(w, http.StatusNotFound, openai.FrontDoorError("404", openai.MsgResourceNotFound))
	}
}

func (s *Server) writeResponse(w http.ResponseWriter, obj responseObject) {
	body, _ := json.Marshal(obj)
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) writeInputItems(w http.ResponseWriter, items []inputItem) {
	// Newest first, OpenAI's default order.
	data := make([]inputItem, len(items))
	for i, it := range items {
		data[len(items)-1-i] = it
	}
	list := struct {
		Object  string      `json:"object"`
		Data    []inputItem `json:"data"`
		FirstID *string     `json:"first_id"`
		LastID  *string     `json:"last_id"`
		HasMore bool        `json:"has_more"`
	}{Object: "list", Data: data}
	if len(data) > 0 {
		list.FirstID, list.LastID = &data[0].ID, &data[len(data)-1].ID
	}
	body, _ := json.Marshal(list)
	writeJSON(w, http.StatusOK, body)
}

// createResponse plans a response like a chat answer (tools, structured
// output, limits) and answers it whole, streamed, or in the background.
func (s *Server) createResponse(w http.ResponseWriter, r *http.Request, rt route) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req responseRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, modelError(msgBadJSON, "invalid_request_error", "", ""))
		return
	}
	if req.Model == "" {
		writeJSON(w, http.StatusBadRequest, modelError("Missing required parameter: 'model'.", "invalid_request_error", "model", "missing_required_parameter"))
		return
	}
	dep := s.deployments[req.Model]
	if dep == nil {
		writeJSON(w, http.StatusNotFound, openai.FrontDoorErrorCompact("DeploymentNotFound", openai.MsgDeploymentNotFound))
		return
	}
	if dep.Kind != KindChat {
		writeJSON(w, http.StatusBadRequest, openai.FrontDoorError("OperationNotSupported",
			fmt.Sprintf(msgOperationNotSupported, "responses", dep.Model)))
		return
	}
	if req.MaxOutputTokens != nil && *req.MaxOutputTokens < 16 {
		writeJSON(w, http.StatusBadRequest, belowMin("max_output_tokens", 16, *req.MaxOutputTokens))
		return
	}
	if req.Background && req.Store != nil && !*req.Store {
		writeJSON(w, http.StatusBadRequest, modelError("Background mode requires store=true.", "invalid_request_error", "background", ""))
		return
	}
	var prev *storedResponse
	if req.PreviousResponseID != nil && *req.PreviousResponseID != "" {
		var ok bool
		if prev, ok = s.responses.get(*req.PreviousResponseID); !ok {
			writeJSON(w, http.StatusBadRequest, modelError(fmt.Sprintf("Previous response with id '%s' not found.", *req.PreviousResponseID),
				"invalid_request_error", "previous_response_id", "previous_response_not_found"))
			return
		}
	}
	items, bad := s.parseInput(req.Input)
	if bad != nil {
		writeJSON(w, http.StatusBadRequest, bad)
		return
	}
	opts, bad := responseOptions(req, items)
	if bad != nil {
		writeJSON(w, http.StatusBadRequest, bad)
		return
	}

	// The prompt is the chain so far plus this turn.
	var ctxText strings.Builder
	if prev != nil {
		ctxText.WriteString(prev.context)
	}
	if req.Instructions != nil {
		ctxText.WriteString(*req.Instructions + "\n")
	}
	for _, it := range items {
		ctxText.WriteString(itemText(it) + "\n")
	}
	promptTokens := s.tc.Count(dep.Model, ctxText.String()) + 3*len(items)

	limit := 0
	if req.MaxOutputTokens != nil {
		limit = *req.MaxOutputTokens
	}
	estimate := promptTokens + s.opts.DefaultMaxTokens
	if limit > 0 {
		estimate = promptTokens + limit
	}
	v := dep.limiter.admit(s.opts.Now(), estimate)
	setRateHeaders(w.Header(), dep, v.remainingTokens, v.remainingRequests)
	if v.limited != "" {
		s.stats.rateLimited.Add(1)
		s.writeRateLimited(w, route{op: openai.Operation{ID: "Responses_Create"}, apiVersion: rt.apiVersion}, v.limited, v.retryAfter)
		return
	}

	h := newHasher(s.opts.Seed, dep.Model)
	h.str(ctxText.String())
	a := shapeAnswer(dep, opts, true, h.rand(), limit)

	obj := s.newResponseObject(req, dep, opts)
	stored := &storedResponse{obj: obj, dep: dep, input: items}
	output, outText := s.responseOutput(a)
	completion := s.tc.Count(dep.Model, a.countText())
	final := func(o *responseObject) {
		o.Status = "completed"
		if a.finish == "length" {
			o.Status = "incomplete"
			o.IncompleteDetails = json.RawMessage(`{"reason":"max_output_tokens"}`)
		}
		o.Output = output
		u := &responseUsage{InputTokens: promptTokens, OutputTokens: completion, TotalTokens: promptTokens + completion}
		o.Usage = u
	}
	stored.context = ctxText.String() + outText + "\n"
	s.stats.succeeded.Add(1)
	s.stats.promptTokens.Add(int64(promptTokens))

	switch {
	case req.Background:
		stored.obj.Status = "queued"
		ctx, cancel := context.WithCancel(context.Background())
		stored.cancel = cancel
		s.responses.put(stored)
		s.writeResponse(w, s.responses.snapshot(stored))
		go s.runBackground(ctx, stored, a, final)
	case req.Stream:
		s.streamResponse(w, r, stored, a, final)
	default:
		if !s.wait(r, s.opts.Latency.TimeToFirstToken+time.Duration(max(a.units()-1, 0))*s.perToken()) {
			s.stats.canceled.Add(1)
			return
		}
		final(&stored.obj)
		s.stats.completionTokens.Add(int64(completion))
		if stored.obj.Store {
			s.responses.put(stored)
		}
		s.writeResponse(w, stored.obj)
	}
}

// runBackground generates a background response: queued, in progress,
// then completed unless it was cancelled or deleted meanwhile.
func (s *Server) runBackground(ctx context.Context, stored *storedResponse, a answer, final func(*responseObject)) {
	defer stored.cancel()
	s.responses.update(stored, func(o *responseObject) {
		if o.Status == "queued" { // not cancelled before it started
			o.Status = "in_progress"
		}
	})
	d := s.opts.Latency.TimeToFirstToken + time.Duration(max(a.units()-1, 0))*s.perToken()
	if d > 0 {
		if err := s.opts.Sleep(ctx, d); err != nil {
			return
		}
	}
	s.responses.update(stored, func(o *responseObject) {
		if o.Status == "in_progress" {
			final(o)
		}
	})
}

func (s *Server) newResponseObject(req responseRequest, dep *deployment, opts chatOptions) responseObject {
	raw := func(v any) json.RawMessage {
		if v == nil {
			return null()
		}
		b, _ := json.Marshal(v)
		return b
	}
	obj := responseObject{
		ID: s.rnd.id("resp_"), Object: "response", CreatedAt: s.opts.Now().Unix(), Status: "in_progress",
		Background: req.Background, Error: null(), IncompleteDetails: null(), Instructions: null(),
		MaxOutputTokens: null(), Model: dep.reported, Output: []outputItem{}, ParallelToolCalls: opts.parallel,
		PreviousResponseID: null(), Reasoning: reasoning{Effort: null(), Summary: null()},
		Store: req.Store == nil || *req.Store, Temperature: 1, Text: json.RawMessage(`{"format":{"type":"text"}}`),
		ToolChoice: json.RawMessage(`"auto"`), Tools: json.RawMessage(`[]`), TopP: 1, Truncation: "disabled",
		User: null(), Metadata: map[string]string{},
	}
	if req.Instructions != nil {
		obj.Instructions = raw(*req.Instructions)
	}
	if req.MaxOutputTokens != nil {
		obj.MaxOutputTokens = raw(*req.MaxOutputTokens)
	}
	if req.PreviousResponseID != nil && *req.PreviousResponseID != "" {
		obj.PreviousResponseID = raw(*req.PreviousResponseID)
	}
	if len(bytes.TrimSpace(req.Text)) > 0 && string(bytes.TrimSpace(req.Text)) != "null" {
		obj.Text = req.Text
	}
	if len(bytes.TrimSpace(req.ToolChoice)) > 0 && string(bytes.TrimSpace(req.ToolChoice)) != "null" {
		obj.ToolChoice = req.ToolChoice
	}
	if len(bytes.TrimSpace(req.Tools)) > 0 && string(bytes.TrimSpace(req.Tools)) != "null" {
		obj.Tools = req.Tools
	}
	if req.Temperature != nil {
		obj.Temperature = *req.Temperature
	}
	if req.TopP != nil {
		obj.TopP = *req.TopP
	}
	if req.User != nil {
		obj.User = raw(*req.User)
	}
	if req.Metadata != nil {
		obj.Metadata = req.Metadata
	}
	return obj
}

// responseOutput turns a planned answer into output items, and the text
// a follow-up counts as context.
func (s *Server) responseOutput(a answer) ([]outputItem, string) {
	if len(a.calls) > 0 {
		var out []outputItem
		var text strings.Builder
		for _, c := range a.calls {
			args := c.args
			out = append(out, outputItem{Type: "function_call", ID: s.rnd.id("fc_"), Status: "completed",
				CallID: c.id, Name: c.name, Arguments: &args})
			text.WriteString(c.name + c.args)
		}
		return out, text.String()
	}
	status := "completed"
	if a.finish == "length" {
		status = "incomplete"
	}
	content := []outputText{{Type: "output_text", Text: a.text(), Annotations: []struct{}{}, Logprobs: []tokenLogprob{}}}
	return []outputItem{{Type: "message", ID: s.rnd.id("msg_"), Status: status, Role: "assistant", Content: &content}}, a.text()
}

// parseInput reads input: a string (one user message) or a list of items
// (messages, function calls and function call outputs). Each item gets an
// ID, for input_items.
func (s *Server) parseInput(raw json.RawMessage) ([]inputItem, []byte) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, modelError("Missing required parameter: 'input'.", "invalid_request_error", "input", "missing_required_parameter")
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		content, _ := json.Marshal([]map[string]string{{"type": "input_text", "text": text}})
		return []inputItem{{Type: "message", ID: s.rnd.id("msg_"), Role: "user", Content: content, Status: "completed"}}, nil
	}
	var items []inputItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, modelError("Invalid type for 'input': expected a string or an array of input items.", "invalid_request_error", "input", "invalid_type")
	}
	for i := range items {
		it := &items[i]
		if it.Type == "" {
			it.Type = "message"
		}
		switch it.Type {
		case "message":
			if it.Role == "" {
				return nil, modelError(fmt.Sprintf("Missing required parameter: 'input[%d].role'.", i), "invalid_request_error",
					fmt.Sprintf("input[%d].role", i), "missing_required_parameter")
			}
			// A plain string content is stored as Azure and OpenAI list it:
			// a part of type input_text.
			var str string
			if json.Unmarshal(it.Content, &str) == nil {
				it.Content, _ = json.Marshal([]map[string]string{{"type": "input_text", "text": str}})
			}
		case "function_call_output", "function_call":
		default:
			return nil, modelError(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'message', 'function_call' and 'function_call_output'.", it.Type),
				"invalid_request_error", fmt.Sprintf("input[%d].type", i), "invalid_value")
		}
		if it.ID == "" {
			it.ID = s.rnd.id("msg_")
		}
		if it.Status == "" {
			it.Status = "completed"
		}
	}
	return items, nil
}

// itemText is an input item's text, for counting and seeding.
func itemText(it inputItem) string {
	switch it.Type {
	case "function_call_output":
		var s string
		if json.Unmarshal(it.Output, &s) == nil {
			return s
		}
		return string(it.Output)
	case "function_call":
		return it.Name + string(it.Args)
	}
	return it.Role + ": " + messageText(it.Content)
}

// responseOptions maps a Responses request's tools, tool_choice and text
// format onto the chat options the answer planner reads.
func responseOptions(req responseRequest, items []inputItem) (chatOptions, []byte) {
	var o chatOptions
	var tools []responseTool
	if len(bytes.TrimSpace(req.Tools)) > 0 && string(bytes.TrimSpace(req.Tools)) != "null" {
		if json.Unmarshal(req.Tools, &tools) != nil {
			return o, modelError("Invalid type for 'tools': expected an array of tools.", "invalid_request_error", "tools", "invalid_type")
		}
	}
	for i, t := range tools {
		if t.Type != "function" {
			continue // built-in tools (web search, file search) are not simulated
		}
		if t.Name == "" {
			return o, modelError(fmt.Sprintf("Missing required parameter: 'tools[%d].name'.", i), "invalid_request_error",
				fmt.Sprintf("tools[%d].name", i), "missing_required_parameter")
		}
		var d toolDef
		d.Type, d.Function.Name = "function", t.Name
		if len(t.Parameters) > 0 {
			_ = json.Unmarshal(t.Parameters, &d.params)
		}
		if d.params == nil {
			d.params = map[string]any{"type": "object", "properties": map[string]any{}}
		}
		o.tools = append(o.tools, d)
	}
	choice := bytes.TrimSpace(req.ToolChoice)
	if len(choice) > 0 && choice[0] == '{' {
		// {"type":"function","name":"x"} on this surface.
		var named struct {
			Type string `json:"type"`
			Name string `json:"name"`
		}
		_ = json.Unmarshal(choice, &named)
		choice, _ = json.Marshal(map[string]any{"type": named.Type, "function": map[string]string{"name": named.Name}})
	}
	var bad []byte
	if o.choice, bad = parseToolChoice(choice, o.tools); bad != nil {
		return o, bad
	}
	o.parallel = req.ParallelToolCalls == nil || *req.ParallelToolCalls
	if len(bytes.TrimSpace(req.Text)) > 0 {
		var t struct {
			Format *struct {
				Type   string          `json:"type"`
				Schema json.RawMessage `json:"schema"`
			} `json:"format"`
		}
		if json.Unmarshal(req.Text, &t) == nil && t.Format != nil {
			switch t.Format.Type {
			case "json_object":
				o.format = "json_object"
			case "json_schema":
				if json.Unmarshal(t.Format.Schema, &o.schema) != nil || o.schema == nil {
					return o, modelError("Missing required parameter: 'text.format.schema'.", "invalid_request_error",
						"text.format.schema", "missing_required_parameter")
				}
				o.format = "json_schema"
			}
		}
	}
	if n := len(items); n > 0 {
		last := items[n-1]
		o.lastRole = last.Role
		if last.Type == "function_call_output" {
			o.lastRole = "tool"
		}
		for i := n - 1; i >= 0; i-- {
			if items[i].Type == "message" && items[i].Role == "user" {
				o.lastUserText = strings.ToLower(messageText(items[i].Content))
				break
			}
		}
	}
	return o, nil
}
