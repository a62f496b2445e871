package simulator

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

const respPath = "/openai/v1/responses"

func postResponse(t *testing.T, s *Server, body string) responseObject {
	t.Helper()
	rec := call(s, "POST", respPath, body)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var obj responseObject
	if err := json.Unmarshal(rec.Body.Bytes(), &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestResponsesCreateAndChain(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	first := postResponse(t, s, `{"model":"gpt-4o-mini","input":"Tell me about gateways.","instructions":"Be brief."}`)
	if first.Status != "completed" || first.Object != "response" || !strings.HasPrefix(first.ID, "resp_") ||
		len(first.Output) != 1 || first.Output[0].Type != "message" || (*first.Output[0].Content)[0].Text == "" {
		t.Fatalf("first: %+v", first)
	}
	if first.Usage == nil || first.Usage.InputTokens == 0 || first.Usage.OutputTokens == 0 ||
		first.Usage.TotalTokens != first.Usage.InputTokens+first.Usage.OutputTokens {
		t.Fatalf("usage %+v", first.Usage)
	}
	second := postResponse(t, s, `{"model":"gpt-4o-mini","input":"And more?","previous_response_id":"`+first.ID+`"}`)
	if string(second.PreviousResponseID) != `"`+first.ID+`"` {
		t.Fatalf("previous_response_id %s", second.PreviousResponseID)
	}
	// The chain's earlier input and output count as this turn's prompt.
	if second.Usage.InputTokens <= first.Usage.InputTokens+first.Usage.OutputTokens {
		t.Fatalf("chained input %d, first turn %d+%d", second.Usage.InputTokens, first.Usage.InputTokens, first.Usage.OutputTokens)
	}

	rec := call(s, "GET", respPath+"/"+first.ID, "")
	var got responseObject
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &got) != nil || got.ID != first.ID || got.Status != "completed" {
		t.Fatalf("retrieve: %d %s", rec.Code, rec.Body)
	}
	rec = call(s, "GET", "/openai/responses/"+first.ID+"/input_items?api-version=2025-04-01-preview", "")
	var items struct {
		Object string      `json:"object"`
		Data   []inputItem `json:"data"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &items) != nil || len(items.Data) != 1 || items.Data[0].Role != "user" ||
		!strings.Contains(string(items.Data[0].Content), "Tell me about gateways.") {
		t.Fatalf("input_items: %d %s", rec.Code, rec.Body)
	}
	if rec := call(s, "DELETE", "/v1/responses/"+first.ID, ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"deleted":true`) {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if rec := call(s, "GET", respPath+"/"+first.ID, ""); rec.Code != 404 {
		t.Fatalf("after delete: %d %s", rec.Code, rec.Body)
	}
	rec = call(s, "POST", respPath, `{"model":"gpt-4o-mini","input":"x","previous_response_id":"resp_nope"}`)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "previous_response_not_found") {
		t.Fatalf("unknown previous: %d %s", rec.Code, rec.Body)
	}
	if rec := call(s, "POST", respPath, `{"model":"gpt-4o-mini","input":"x","store":false}`); rec.Code != 200 {
		t.Fatal(rec.Body)
	} else {
		var o responseObject
		_ = json.Unmarshal(rec.Body.Bytes(), &o)
		if rec := call(s, "GET", respPath+"/"+o.ID, ""); rec.Code != 404 {
			t.Fatalf("store:false was stored: %d", rec.Code)
		}
	}
}

func TestResponsesTools(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	tools := `[{"type":"function","name":"get_weather","parameters":{"type":"object","required":["city"],"additionalProperties":false,"properties":{"city":{"type":"string"}}}}]`
	first := postResponse(t, s, `{"model":"gpt-4o-mini","input":"weather in Tokyo?","tools":`+tools+`}`)
	if len(first.Output) != 1 || first.Output[0].Type != "function_call" || first.Output[0].Name != "get_weather" {
		t.Fatalf("want a function call: %+v", first.Output)
	}
	var args map[string]any
	if err := json.Unmarshal([]byte(*first.Output[0].Arguments), &args); err != nil || args["city"] == nil {
		t.Fatalf("arguments %q", *first.Output[0].Arguments)
	}
	second := postResponse(t, s, `{"model":"gpt-4o-mini","previous_response_id":"`+first.ID+`","tools":`+tools+`,
	  "input":[{"type":"function_call_output","call_id":"`+first.Output[0].CallID+`","output":"sunny"}]}`)
	if len(second.Output) != 1 || second.Output[0].Type != "message" {
		t.Fatalf("after the tool output, want a message: %+v", second.Output)
	}
	schema := `{"type":"object","required":["n"],"additionalProperties":false,"properties":{"n":{"type":"integer","minimum":3,"maximum":3}}}`
	out := postResponse(t, s, `{"model":"gpt-4o-mini","input":"x","text":{"format":{"type":"json_schema","name":"n","strict":true,"schema":`+schema+`}}}`)
	validateJSON(t, compileSchema(t, schema), (*out.Output[0].Content)[0].Text)
}

func TestResponsesStream(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	rec := call(s, "POST", respPath, `{"model":"gpt-4o-mini","input":"stream it","stream":true,"max_output_tokens":20}`)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	var types []string
	var text string
	var final responseObject
	seq := 0
	for _, ev := range strings.Split(strings.TrimSpace(rec.Body.String()), "\n\n") {
		name, data, ok := strings.Cut(ev, "\ndata: ")
		if !ok {
			t.Fatalf("event %q", ev)
		}
		name = strings.TrimPrefix(name, "event: ")
		var d struct {
			Type     string          `json:"type"`
			Seq      int             `json:"sequence_number"`
			Delta    string          `json:"delta"`
			Response json.RawMessage `json:"response"`
		}
		if err := json.Unmarshal([]byte(data), &d); err != nil || d.Type != name || d.Seq != seq {
			t.Fatalf("event %s: %+v %v", name, d, err)
		}
		seq++
		if len(types) == 0 || types[len(types)-1] != name {
			types = append(types, name)
		}
		if name == "response.output_text.delta" {
			text += d.Delta
		}
		if name == "response.completed" || name == "response.incomplete" {
			_ = json.Unmarshal(d.Response, &final)
		}
	}
	want := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done"}
	if strings.Join(types[:len(want)], ",") != strings.Join(want, ",") {
		t.Fatalf("events %v", types)
	}
	if last := types[len(types)-1]; last != "response.completed" && last != "response.incomplete" {
		t.Fatalf("last event %s", last)
	}
	if final.Usage == nil || final.Usage.OutputTokens == 0 || (*final.Output[0].Content)[0].Text != text {
		t.Fatalf("final %+v, streamed %q", final, text)
	}
	if rec := call(s, "GET", respPath+"/"+final.ID, ""); rec.Code != 200 {
		t.Fatalf("a streamed response is stored: %d", rec.Code)
	}
}

func TestResponsesBackground(t *testing.T) {
	c := newClock()
	opts := testOptions(c)
	release := make(chan struct{})
	opts.Sleep = func(ctx context.Context, _ time.Duration) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	opts.Latency = Latency{TimeToFirstToken: time.Second}
	s := newServer(t, opts)
	queued := postResponse(t, s, `{"model":"gpt-4o-mini","input":"slow","background":true}`)
	if queued.Status != "queued" || !queued.Background {
		t.Fatalf("%+v", queued)
	}
	status := func(id string) string {
		rec := call(s, "GET", respPath+"/"+id, "")
		var o responseObject
		_ = json.Unmarshal(rec.Body.Bytes(), &o)
		return o.Status
	}
	close(release)
	for i := 0; status(queued.ID) != "completed"; i++ {
		if i > 500 {
			t.Fatalf("background response stuck at %s", status(queued.ID))
		}
		time.Sleep(2 * time.Millisecond)
	}

	// Cancelled while in progress.
	opts.Sleep = func(ctx context.Context, _ time.Duration) error { <-ctx.Done(); return ctx.Err() }
	s = newServer(t, opts)
	bg := postResponse(t, s, `{"model":"gpt-4o-mini","input":"slow","background":true}`)
	rec := call(s, "POST", respPath+"/"+bg.ID+"/cancel", "")
	if rec.Code != 200 || status(bg.ID) != "cancelled" {
		t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
	}
}

func TestResponsesErrors(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	fg := postResponse(t, s, `{"model":"gpt-4o-mini","input":"x"}`)
	tests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"cancel a foreground response", "POST", respPath + "/" + fg.ID + "/cancel", "", 400},
		{"no input", "POST", respPath, `{"model":"gpt-4o-mini"}`, 400},
		{"no model", "POST", respPath, `{"input":"x"}`, 400},
		{"unknown deployment", "POST", respPath, `{"model":"nope","input":"x"}`, 404},
		{"embeddings deployment", "POST", respPath, `{"model":"text-embedding-3-small","input":"x"}`, 400},
		{"tiny max_output_tokens", "POST", respPath, `{"model":"gpt-4o-mini","input":"x","max_output_tokens":3}`, 400},
		{"legacy without api-version", "POST", "/openai/responses", `{"model":"gpt-4o-mini","input":"x"}`, 404},
		{"unknown action", "POST", respPath + "/" + fg.ID + "/explode", "", 404},
		{"unknown id", "GET", respPath + "/resp_nope", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rec := call(s, tt.method, tt.path, tt.body); rec.Code != tt.status {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		})
	}
	if rec := call(s, "POST", "/openai/responses?api-version=2025-04-01-preview", `{"model":"gpt-4o-mini","input":"x"}`); rec.Code != http.StatusOK {
		t.Fatalf("legacy surface: %d %s", rec.Code, rec.Body)
	}
}
