package simulator

import (
	"errors"
	"math"
	"net/http/httptest"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	"github.com/openai/openai-go/v3/option"
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
