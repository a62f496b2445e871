package simulator

import (
	"encoding/json"
	"errors"
	"math"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
)

// TestOpenAIGoSDK drives the simulator with the official Go SDK, on both the
// Azure (dated) and the v1 surface: a real client must read every answer.
func TestOpenAIGoSDK(t *testing.T) {
	opts := testOptions(newClock())
	opts.APIKey = "sdk-key"
	s := newServer(t, opts)
	srv := httptest.NewServer(s)
	defer srv.Close()
	clients := []struct {
		name   string
		client openai.Client
	}{
		{name: "azure dated", client: openai.NewClient(azure.WithEndpoint(srv.URL, "2024-10-21"), azure.WithUnsafeAllowHTTP(), azure.WithAPIKey("sdk-key"), option.WithMaxRetries(0))},
		{name: "v1", client: openai.NewClient(option.WithBaseURL(srv.URL+"/openai/v1/"), option.WithAPIKey("sdk-key"), option.WithMaxRetries(0))},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			params := openai.ChatCompletionNewParams{
				Model:     "gpt-4o-mini",
				Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello to the gateway.")},
				MaxTokens: openai.Int(12),
			}
			resp, err := c.client.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatalf("chat: %v", err)
			}
			if len(resp.Choices) != 1 || resp.Choices[0].Message.Content == "" || resp.Choices[0].FinishReason != "length" || resp.Usage.CompletionTokens != 12 {
				t.Errorf("chat answer: %+v", resp)
			}

			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			stream := c.client.Chat.Completions.NewStreaming(ctx, params)
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != resp.Choices[0].Message.Content {
				t.Errorf("streamed %q, plain %q", acc.Choices[0].Message.Content, resp.Choices[0].Message.Content)
			}
			if acc.Usage.TotalTokens != resp.Usage.TotalTokens {
				t.Errorf("streamed usage %+v, plain %+v", acc.Usage, resp.Usage)
			}

			emb, err := c.client.Embeddings.New(ctx, openai.EmbeddingNewParams{
				Model:      "text-embedding-3-small",
				Input:      openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"alpha", "beta"}},
				Dimensions: openai.Int(64),
			})
			if err != nil {
				t.Fatalf("embeddings: %v", err)
			}
			if len(emb.Data) != 2 || len(emb.Data[0].Embedding) != 64 {
				t.Fatalf("embeddings: %d vectors", len(emb.Data))
			}
			var n float64
			for _, x := range emb.Data[0].Embedding {
				n += x * x
			}
			if math.Abs(n-1) > 1e-5 {
				t.Errorf("norm² = %v", n)
			}

			params.Model = "no-such-deployment"
			_, err = c.client.Chat.Completions.New(ctx, params)
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "DeploymentNotFound" {
				t.Errorf("unknown deployment: %v", err)
			}
		})
	}
}

// TestOpenAIGoSDKAgent runs the loop an agent runs, with the official Go
// SDK: the model calls a tool (streamed, reassembled by the SDK's
// accumulator), the tool's result goes back, and the model answers in text;
// then a structured output parsed into a Go struct.
func TestOpenAIGoSDKAgent(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	srv := httptest.NewServer(s)
	defer srv.Close()
	client := openai.NewClient(azure.WithEndpoint(srv.URL, "2024-10-21"), azure.WithUnsafeAllowHTTP(), azure.WithAPIKey("k"), option.WithMaxRetries(0))
	ctx := t.Context()
	tool := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name: "get_weather",
		Parameters: shared.FunctionParameters{
			"type": "object", "required": []string{"city"}, "additionalProperties": false,
			"properties": map[string]any{"city": map[string]any{"type": "string"}},
		},
	})
	params := openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the weather in Tokyo?")},
		Tools:    []openai.ChatCompletionToolUnionParam{tool},
	}
	stream := client.Chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	msg := acc.Choices[0].Message
	if acc.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != "get_weather" {
		t.Fatalf("want a get_weather call: %+v", acc.Choices[0])
	}
	var args struct {
		City string `json:"city"`
	}
	if err := json.Unmarshal([]byte(msg.ToolCalls[0].Function.Arguments), &args); err != nil || args.City == "" {
		t.Fatalf("arguments %q: %v", msg.ToolCalls[0].Function.Arguments, err)
	}
	params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage("sunny, 21°C", msg.ToolCalls[0].ID))
	resp, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].FinishReason != "stop" || resp.Choices[0].Message.Content == "" {
		t.Fatalf("after the tool result, want text: %+v", resp.Choices[0])
	}

	type review struct {
		Title  string   `json:"title"`
		Rating int      `json:"rating"`
		Tags   []string `json:"tags"`
	}
	resp, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Review the gateway.")},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "review", Strict: openai.Bool(true), Schema: map[string]any{
				"type": "object", "additionalProperties": false, "required": []string{"title", "rating", "tags"},
				"properties": map[string]any{
					"title":  map[string]any{"type": "string"},
					"rating": map[string]any{"type": "integer", "minimum": 1, "maximum": 5},
					"tags":   map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
				},
			}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var r review
	dec := json.NewDecoder(strings.NewReader(resp.Choices[0].Message.Content))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil || r.Title == "" || r.Rating < 1 || r.Rating > 5 {
		t.Fatalf("structured output %q: %v", resp.Choices[0].Message.Content, err)
	}
}

// TestOpenAIGoSDKResponses: the Go SDK's Responses client creates a
// response, follows it up with previous_response_id (plain and streamed),
// retrieves it and deletes it.
func TestOpenAIGoSDKResponses(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	srv := httptest.NewServer(s)
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/openai/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	ctx := t.Context()
	first, err := client.Responses.New(ctx, responses.ResponseNewParams{
		Model: "gpt-4o-mini",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Describe a private gateway.")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != "completed" || first.OutputText() == "" || first.Usage.TotalTokens == 0 {
		t.Fatalf("first: %+v", first)
	}
	stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{
		Model:              "gpt-4o-mini",
		Input:              responses.ResponseNewParamsInputUnion{OfString: openai.String("Go on.")},
		PreviousResponseID: openai.String(first.ID),
	})
	var text, completedID string
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "response.output_text.delta":
			text += ev.Delta
		case "response.completed":
			completedID = ev.Response.ID
			if ev.Response.OutputText() != text || ev.Response.PreviousResponseID != first.ID {
				t.Errorf("completed %q (previous %q), streamed %q", ev.Response.OutputText(), ev.Response.PreviousResponseID, text)
			}
		}
	}
	if err := stream.Err(); err != nil || completedID == "" {
		t.Fatalf("stream: %v, completed %q", err, completedID)
	}
	got, err := client.Responses.Get(ctx, completedID, responses.ResponseGetParams{})
	if err != nil || got.OutputText() != text {
		t.Fatalf("get: %v", err)
	}
	if err := client.Responses.Delete(ctx, completedID); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Responses.Get(ctx, completedID, responses.ResponseGetParams{}); err == nil {
		t.Fatal("a deleted response was found")
	}
}
