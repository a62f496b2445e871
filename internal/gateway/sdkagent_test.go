package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
)

// TestGoAgents runs one agent written with openai-go (a tool round trip,
// structured output, a Responses chain, a batch job) unchanged against the
// built-in simulator and against a pool of two simulated Azure resources,
// where every follow-up must reach the member holding its object.
func TestGoAgents(t *testing.T) {
	t.Run("simulator", func(t *testing.T) {
		ts := startServer(t, "simulator: {time_to_first_token: 1ms, batch_time: 300ms}\n")
		goAgent(t, ts.url)
	})
	t.Run("pool", func(t *testing.T) {
		a, b := startSeededBatch(t, 21), startSeededBatch(t, 22)
		ts := startServer(t, batchPool(a.URL, b.URL, ""))
		// Twice: creates go by weight, and one run's eight or so can all
		// land on one member (seen once), which leaves the other untested.
		goAgent(t, ts.url)
		goAgent(t, ts.url)
		assertAffinity(t, ts.records())
	})
}

func goAgent(t *testing.T, url string) {
	client := oai.NewClient(option.WithBaseURL(url+"/openai/v1/"), option.WithAPIKey("any-key"), option.WithMaxRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const model = "gpt-4o-mini"

	t.Run("tool round trip", func(t *testing.T) {
		weather := oai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather", Parameters: shared.FunctionParameters{
			"type": "object", "additionalProperties": false, "required": []string{"city"},
			"properties": map[string]any{"city": map[string]any{"type": "string"}},
		}})
		params := oai.ChatCompletionNewParams{Model: model, Tools: []oai.ChatCompletionToolUnionParam{weather},
			Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("Weather in Lyon?")}}
		r, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		calls := r.Choices[0].Message.ToolCalls
		if len(calls) == 0 || calls[0].Function.Name != "get_weather" || !json.Valid([]byte(calls[0].Function.Arguments)) {
			t.Fatalf("tool calls: %+v", r.Choices[0].Message)
		}
		params.Messages = append(params.Messages, r.Choices[0].Message.ToParam(), oai.ToolMessage("rainy, 12C", calls[0].ID))
		if r, err = client.Chat.Completions.New(ctx, params); err != nil || r.Choices[0].Message.Content == "" {
			t.Fatalf("answer after the tool: %v %+v", err, r)
		}
	})
	t.Run("structured output", func(t *testing.T) {
		schema := map[string]any{"type": "object", "additionalProperties": false, "required": []string{"name", "score"},
			"properties": map[string]any{"name": map[string]any{"type": "string"}, "score": map[string]any{"type": "integer"}}}
		r, err := client.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{Model: model,
			Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("Rate moat")},
			ResponseFormat: oai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
				JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "rating", Strict: oai.Bool(true), Schema: schema}}}})
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Name  *string
			Score *int
		}
		if err := json.Unmarshal([]byte(r.Choices[0].Message.Content), &v); err != nil || v.Name == nil || v.Score == nil {
			t.Fatalf("%v %s", err, r.Choices[0].Message.Content)
		}
	})
	t.Run("responses chain", func(t *testing.T) {
		prev, err := client.Responses.New(ctx, responses.ResponseNewParams{Model: model,
			Input: responses.ResponseNewParamsInputUnion{OfString: oai.String("Begin.")}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if prev, err = client.Responses.New(ctx, responses.ResponseNewParams{Model: model, PreviousResponseID: oai.String(prev.ID),
				Input: responses.ResponseNewParamsInputUnion{OfString: oai.String(fmt.Sprintf("Step %d.", i))}}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := client.Responses.Get(ctx, prev.ID, responses.ResponseGetParams{})
		if err != nil || got.OutputText() != prev.OutputText() {
			t.Fatalf("retrieve: %v", err)
		}
		items, err := client.Responses.InputItems.List(ctx, prev.ID, responses.InputItemListParams{})
		if err != nil || len(items.Data) == 0 {
			t.Fatalf("input items: %v", err)
		}
		if err := client.Responses.Delete(ctx, prev.ID); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("batch job", func(t *testing.T) {
		var in bytes.Buffer
		for i, q := range []string{"One", "Two"} {
			line, _ := json.Marshal(map[string]any{"custom_id": fmt.Sprint(i), "method": "POST", "url": "/v1/chat/completions",
				"body": map[string]any{"model": model, "max_tokens": 6, "messages": []map[string]string{{"role": "user", "content": q}}}})
			in.Write(append(line, '\n'))
		}
		f, err := client.Files.New(ctx, oai.FileNewParams{File: oai.File(&in, "batch.jsonl", "application/jsonl"), Purpose: oai.FilePurposeBatch})
		if err != nil {
			t.Fatal(err)
		}
		b, err := client.Batches.New(ctx, oai.BatchNewParams{InputFileID: f.ID, Endpoint: oai.BatchNewParamsEndpointV1ChatCompletions,
			CompletionWindow: oai.BatchNewParamsCompletionWindow24h})
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); b.Status != oai.BatchStatusCompleted; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("batch stuck: %s", b.Status)
			}
			if b, err = client.Batches.Get(ctx, b.ID); err != nil {
				t.Fatal(err)
			}
		}
		if b.RequestCounts.Completed != 2 || b.RequestCounts.Failed != 0 {
			t.Fatalf("request counts: %+v", b.RequestCounts)
		}
		resp, err := client.Files.Content(ctx, b.OutputFileID)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Count(string(out), `"status_code":200`) != 2 {
			t.Fatalf("output: %s", out)
		}
	})
}
