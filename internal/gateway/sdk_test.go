package gateway

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	"github.com/openai/openai-go/v3/option"
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
	dir, node := nodeSDK(t)
	ts := startServer(t, "")
	runNode(t, dir, node, "sdk.test.mjs", "MOAT_URL="+ts.url)
}

// TestNodeAgents runs agent-style clients (tools, structured output, the
// npm openai package and LangChain) against moat + simulator.
func TestNodeAgents(t *testing.T) {
	dir, node := nodeSDK(t)
	if !fileExists(filepath.Join(dir, "node_modules", "@langchain", "openai", "package.json")) && os.Getenv("CI") != "" {
		t.Fatal("@langchain/openai missing from test/sdk/node (run make node-deps)")
	}
	ts := startServer(t, "")
	runNode(t, dir, node, "agents.test.mjs", "MOAT_URL="+ts.url)
}

// nodeSDK finds node and the installed SDK; CI must have both.
func nodeSDK(t *testing.T) (dir, node string) {
	t.Helper()
	dir, err := filepath.Abs("../../test/sdk/node")
	if err != nil {
		t.Fatal(err)
	}
	node, err = exec.LookPath("node")
	if err != nil || !fileExists(filepath.Join(dir, "node_modules", "openai", "package.json")) {
		if os.Getenv("CI") != "" {
			t.Fatalf("node or test/sdk/node/node_modules missing (run make node-deps): %v", err)
		}
		t.Skip("node SDK tests need node and `make node-deps`")
	}
	return dir, node
}

func runNode(t *testing.T, dir, node, script string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test %s:\n%s", script, out)
	if err != nil {
		t.Fatalf("node SDK tests failed: %v", err)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
