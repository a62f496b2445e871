package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	"github.com/openai/openai-go/v3/option"
)

// TestGuardrailsGoSDK: openai-go in Azure mode sees a blocked prompt as its
// 400 content_filter error and a cut stream as finish_reason
// "content_filter", as it would from Azure's own filter.
func TestGuardrailsGoSDK(t *testing.T) {
	up := piiUpstream(t, []string{"your card 5555-5555-", "5555-4444 and more"})
	ts := startServer(t, upstreamConfig(up.URL, "guardrails: [{builtin: card, action: block}]"))
	client := oai.NewClient(azure.WithEndpoint(ts.url, "2024-10-21"), azure.WithAPIKey("any-key"),
		azure.WithUnsafeAllowHTTP(), option.WithMaxRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := client.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{
		Model:    "chat",
		Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("charge 4111 1111 1111 1111")},
	})
	var apiErr *oai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "content_filter" || apiErr.Param != "prompt" {
		t.Fatalf("blocked prompt: %v", err)
	}

	st := client.Chat.Completions.NewStreaming(ctx, oai.ChatCompletionNewParams{
		Model:    "chat",
		Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("what is my card?")},
	})
	var acc oai.ChatCompletionAccumulator
	for st.Next() {
		acc.AddChunk(st.Current())
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].FinishReason != "content_filter" || acc.Choices[0].Message.Content != "your card 5555-5555-" {
		t.Fatalf("cut stream: %+v", acc.Choices)
	}
}
