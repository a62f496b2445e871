package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/foundry"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/moat-gw/moat/internal/proctest"
)

const claude = "claude-sonnet-4-6"

// weatherSchema is the input schema of the get_weather tool in the tests.
const weatherSchema = `{"type":"object","properties":{"location":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["location","unit"]}`

func claudeWeatherTool(t *testing.T) anthropic.ToolUnionParam {
	t.Helper()
	var s struct {
		Properties map[string]any `json:"properties"`
		Required   []string       `json:"required"`
	}
	if err := json.Unmarshal([]byte(weatherSchema), &s); err != nil {
		t.Fatal(err)
	}
	tool := anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{Properties: s.Properties, Required: s.Required}, "get_weather")
	tool.OfTool.Description = anthropic.String("Current weather at a place")
	return tool
}

// anthropicServer serves the simulator over HTTP with key k required.
func anthropicServer(t *testing.T, key string) *httptest.Server {
	t.Helper()
	opts := testOptions(newClock())
	opts.APIKey = key
	ts := httptest.NewServer(newServer(t, opts))
	t.Cleanup(ts.Close)
	return ts
}

// TestAnthropicGoSDK drives the Messages API with the official Go SDK, on
// Anthropic's path shape and on Foundry's.
func TestAnthropicGoSDK(t *testing.T) {
	ts := anthropicServer(t, "sk-ant-test")
	fc, err := foundry.NewClient(foundry.ClientConfig{APIKey: "sk-ant-test", BaseURL: ts.URL + "/anthropic/"}, option.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]anthropic.MessageService{
		"anthropic": anthropic.NewClient(option.WithBaseURL(ts.URL), option.WithAPIKey("sk-ant-test"), option.WithMaxRetries(0)).Messages,
		"foundry":   fc.Messages,
	}
	for name, msgs := range clients {
		t.Run(name, func(t *testing.T) { exerciseMessages(t, msgs) })
	}
}

func exerciseMessages(t *testing.T, msgs anthropic.MessageService) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("plain", func(t *testing.T) {
		m, err := msgs.New(ctx, anthropic.MessageNewParams{
			Model:     claude,
			MaxTokens: 256,
			System:    []anthropic.TextBlockParam{{Text: "You are terse."}},
			Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello, Claude"))},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(m.ID, "msg_01") || m.Model != "claude-sonnet-4-6" || m.StopReason != anthropic.StopReasonEndTurn {
			t.Fatalf("id %q model %q stop %q", m.ID, m.Model, m.StopReason)
		}
		if len(m.Content) != 1 || m.Content[0].Type != "text" || m.Content[0].Text == "" {
			t.Fatalf("content %+v", m.Content)
		}
		if m.Usage.InputTokens == 0 || m.Usage.OutputTokens == 0 || m.Usage.CacheReadInputTokens != 0 {
			t.Fatalf("usage %+v", m.Usage)
		}
	})
	t.Run("max tokens", func(t *testing.T) {
		m, err := msgs.New(ctx, anthropic.MessageNewParams{
			Model: claude, MaxTokens: 5,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Write a long story"))},
		})
		if err != nil {
			t.Fatal(err)
		}
		if m.StopReason != anthropic.StopReasonMaxTokens || m.Usage.OutputTokens > 5 {
			t.Fatalf("stop %q, output %d", m.StopReason, m.Usage.OutputTokens)
		}
	})
	t.Run("streamed", func(t *testing.T) {
		params := anthropic.MessageNewParams{
			Model: claude, MaxTokens: 256,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Stream to me"))},
		}
		plain, err := msgs.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		st := msgs.NewStreaming(ctx, params)
		var acc anthropic.Message
		var types []string
		for st.Next() {
			ev := st.Current()
			if len(types) == 0 || types[len(types)-1] != ev.Type {
				types = append(types, ev.Type)
			}
			if err := acc.Accumulate(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		// The SDK drops ping events; TestAnthropicStreamWire sees them.
		want := "message_start content_block_start content_block_delta content_block_stop message_delta message_stop"
		if got := strings.Join(types, " "); got != want {
			t.Errorf("events %q, want %q", got, want)
		}
		if acc.Content[0].Text != plain.Content[0].Text || acc.StopReason != plain.StopReason {
			t.Errorf("streamed %q (%s), plain %q (%s)", acc.Content[0].Text, acc.StopReason, plain.Content[0].Text, plain.StopReason)
		}
		if acc.Usage.OutputTokens != plain.Usage.OutputTokens || acc.Usage.InputTokens != plain.Usage.InputTokens {
			t.Errorf("streamed usage %+v, plain %+v", acc.Usage, plain.Usage)
		}
	})
	t.Run("tools round trip", func(t *testing.T) {
		sch := compileSchema(t, weatherSchema)
		history := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is the weather in Paris? Use get_weather."))}
		params := anthropic.MessageNewParams{Model: claude, MaxTokens: 512, Tools: []anthropic.ToolUnionParam{claudeWeatherTool(t)}, Messages: history}
		m, err := msgs.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if m.StopReason != anthropic.StopReasonToolUse {
			t.Fatalf("stop %q", m.StopReason)
		}
		var results []anthropic.ContentBlockParamUnion
		for _, b := range m.Content {
			if b.Type == "tool_use" {
				if b.Name != "get_weather" || !strings.HasPrefix(b.ID, "toolu_01") {
					t.Fatalf("tool_use %+v", b)
				}
				validateJSON(t, sch, string(b.Input))
				results = append(results, anthropic.NewToolResultBlock(b.ID, "18 degrees and sunny", false))
			}
		}
		if len(results) != 1 || m.Content[0].Type != "text" {
			t.Fatalf("content %+v", m.Content)
		}
		params.Messages = append(history, m.ToParam(), anthropic.NewUserMessage(results...))
		final, err := msgs.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if final.StopReason != anthropic.StopReasonEndTurn || final.Content[0].Type != "text" {
			t.Fatalf("after tool results: stop %q content %+v", final.StopReason, final.Content)
		}
	})
	t.Run("tools streamed", func(t *testing.T) {
		sch := compileSchema(t, weatherSchema)
		st := msgs.NewStreaming(ctx, anthropic.MessageNewParams{
			Model: claude, MaxTokens: 512, Tools: []anthropic.ToolUnionParam{claudeWeatherTool(t)},
			ToolChoice: anthropic.ToolChoiceParamOfTool("get_weather"),
			Messages:   []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Anything"))},
		})
		var acc anthropic.Message
		for st.Next() {
			if err := acc.Accumulate(st.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if acc.StopReason != anthropic.StopReasonToolUse || len(acc.Content) != 1 || acc.Content[0].Type != "tool_use" {
			t.Fatalf("stop %q content %+v", acc.StopReason, acc.Content)
		}
		validateJSON(t, sch, string(acc.Content[0].Input))
	})
	t.Run("count tokens", func(t *testing.T) {
		msg := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("How many tokens is this?"))}
		c, err := msgs.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: claude, Messages: msg})
		if err != nil {
			t.Fatal(err)
		}
		m, err := msgs.New(ctx, anthropic.MessageNewParams{Model: claude, MaxTokens: 16, Messages: msg})
		if err != nil {
			t.Fatal(err)
		}
		if c.InputTokens == 0 || c.InputTokens != m.Usage.InputTokens {
			t.Fatalf("count_tokens %d, usage %d", c.InputTokens, m.Usage.InputTokens)
		}
	})
	t.Run("errors", func(t *testing.T) {
		_, err := msgs.New(ctx, anthropic.MessageNewParams{
			Model: "claude-no-such-model", MaxTokens: 16,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
		})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Type() != "not_found_error" || !strings.HasPrefix(apiErr.RequestID, "req_") {
			t.Fatalf("unknown model: %v", err)
		}
		_, err = msgs.New(ctx, anthropic.MessageNewParams{
			Model: claude, MaxTokens: 2048, Thinking: anthropic.ThinkingConfigParamOfEnabled(100),
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
		})
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" || !strings.Contains(apiErr.Message, "budget_tokens") {
			t.Fatalf("thinking budget: %v", err)
		}
	})
}

// TestAnthropicGoSDKAuth checks that a wrong key is Anthropic's 401.
func TestAnthropicGoSDKAuth(t *testing.T) {
	ts := anthropicServer(t, "right")
	c := anthropic.NewClient(option.WithBaseURL(ts.URL), option.WithAPIKey("wrong"), option.WithMaxRetries(0))
	_, err := c.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: claude, MaxTokens: 16,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Type() != "authentication_error" {
		t.Fatalf("err = %v", err)
	}
}

// TestAnthropicNodeSDK runs test/sdk/node/anthropic.test.mjs (the official
// @anthropic-ai/sdk) against the simulator, on Anthropic's path shape with
// an API key and on Foundry's with a bearer token.
func TestAnthropicNodeSDK(t *testing.T) {
	ts := anthropicServer(t, "sk-ant-node")
	t.Run("anthropic", func(t *testing.T) {
		proctest.NodeTest(t, "../..", "anthropic.test.mjs", "@anthropic-ai/sdk",
			"ANTHROPIC_TEST_URL="+ts.URL, "ANTHROPIC_TEST_KEY=sk-ant-node", "ANTHROPIC_TEST_MODEL="+claude)
	})
	t.Run("foundry", func(t *testing.T) {
		proctest.NodeTest(t, "../..", "anthropic.test.mjs", "@anthropic-ai/sdk",
			"ANTHROPIC_TEST_URL="+ts.URL+"/anthropic", "ANTHROPIC_TEST_TOKEN=sk-ant-node", "ANTHROPIC_TEST_MODEL="+claude)
	})
}
