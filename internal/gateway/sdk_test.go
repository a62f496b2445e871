package gateway

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	"github.com/openai/openai-go/v3/option"

	"github.com/moat-gw/moat/internal/proctest"
	"github.com/moat-gw/moat/internal/reqlog"
)

// TestGoSDK drives moat + simulator with the official openai-go client in
// Azure mode, the way an unmodified application would.
func TestGoSDK(t *testing.T) {
	ts := startServer(t, "")
	client := oai.NewClient(
		azure.WithEndpoint(ts.url, "2024-10-21"),
		azure.WithAPIKey("any-key"),
		azure.WithUnsafeAllowHTTP(),
		option.WithMaxRetries(0),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("chat", func(t *testing.T) {
		r, err := client.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{
			Model:     "gpt-4o-mini",
			Messages:  []oai.ChatCompletionMessageParamUnion{oai.UserMessage("Hello from openai-go")},
			MaxTokens: oai.Int(16),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Choices) != 1 || r.Choices[0].Message.Content == "" || r.Usage.TotalTokens == 0 {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("stream", func(t *testing.T) {
		st := client.Chat.Completions.NewStreaming(ctx, oai.ChatCompletionNewParams{
			Model:         "gpt-4o-mini",
			Messages:      []oai.ChatCompletionMessageParamUnion{oai.UserMessage("Stream it")},
			MaxTokens:     oai.Int(20),
			StreamOptions: oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)},
		})
		var acc oai.ChatCompletionAccumulator
		chunks := 0
		for st.Next() {
			acc.AddChunk(st.Current())
			chunks++
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if chunks < 3 || acc.Choices[0].Message.Content == "" || acc.Usage.CompletionTokens == 0 {
			t.Fatalf("chunks %d, %+v", chunks, acc.ChatCompletion)
		}
	})
	t.Run("embeddings", func(t *testing.T) {
		r, err := client.Embeddings.New(ctx, oai.EmbeddingNewParams{
			Model: "text-embedding-3-small",
			Input: oai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"one", "two", "three"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Data) != 3 || len(r.Data[0].Embedding) != 1536 {
			t.Fatalf("%d vectors", len(r.Data))
		}
	})
	t.Run("deployment not found", func(t *testing.T) {
		_, err := client.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{
			Model:    "no-such-deployment",
			Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hi")},
		})
		var apiErr *oai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "DeploymentNotFound" {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestNodeSDK runs test/sdk/node with the official openai npm package
// (AzureOpenAI and OpenAI clients) against moat + simulator.
func TestNodeSDK(t *testing.T) {
	ts := startServer(t, "")
	proctest.NodeTest(t, "../..", "sdk.test.mjs", "openai", "MOAT_URL="+ts.url)
}

// TestNodeAgents runs agent-style clients (tools, structured output, the
// npm openai package and LangChain) against moat + simulator.
func TestNodeAgents(t *testing.T) {
	t.Run("simulator", func(t *testing.T) {
		ts := startServer(t, "simulator: {time_to_first_token: 1ms, batch_time: 300ms}\n")
		proctest.NodeTest(t, "../..", "agents.test.mjs", "@langchain/openai", "MOAT_URL="+ts.url)
	})
	t.Run("pool", func(t *testing.T) {
		// The same code against two simulated Azure resources: objects live
		// on one of them, so every follow-up must reach it.
		a, b := startSeededBatch(t, 11), startSeededBatch(t, 12)
		ts := startServer(t, batchPool(a.URL, b.URL, ""))
		// Twice, so that creates by weight reach both members (see TestGoAgents).
		for range 2 {
			proctest.NodeTest(t, "../..", "agents.test.mjs", "@langchain/openai", "MOAT_URL="+ts.url)
		}
		assertAffinity(t, ts.records())
	})
}

// assertAffinity checks a pool's request log: calls spread over both
// members, and every call on a stored object went to one member, once, and
// was answered there (the other member would have answered 404).
func assertAffinity(t *testing.T, recs []reqlog.Record) {
	t.Helper()
	used := map[string]int{}
	pinned := 0
	for _, r := range recs {
		used[r.Upstream]++
		switch r.Operation {
		case "Responses_Get", "Responses_ListInputItems", "Responses_Delete", "Batch_Create", "Batch_Get",
			"Files_Get", "Files_GetContent", "Files_Delete":
			pinned++
			if r.Status == 404 && r.Attempts == 0 {
				continue // a deleted object: its pin is gone, moat answers
			}
			if r.Attempts != 1 || r.Status >= 400 {
				t.Errorf("%s %s: status %d after %d attempts on %s", r.Method, r.Path, r.Status, r.Attempts, r.Upstream)
			}
		}
	}
	if used["a"] == 0 || used["b"] == 0 || pinned < 5 {
		t.Errorf("calls per member %v, %d pinned calls", used, pinned)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
