package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/foundry"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/moat-gw/moat/internal/proctest"
)

// claudeSDKConfig serves Claude from the simulator: "claude-sonnet-4-6"
// for callers with key1 or the VM's token (Cognitive Services User at
// roleScope), and "claude-tiny" under a 10-token limit. scopedKey may call
// chat only.
func claudeSDKConfig(issuer, roleScope string) string {
	return fmt.Sprintf(`
upstreams: [{name: sim, type: simulator}]
deployments:
  - {name: claude-sonnet-4-6, model: claude-sonnet-4-6, upstreams: [{upstream: sim}]}
  - {name: claude-tiny, model: claude-sonnet-4-6, upstreams: [{upstream: sim}]}
auth:
  keys:
    - {name: key1, key: %s}
    - {name: chat-only, key: %s, operations: [chat]}
  issuers:
    - {name: local, tenant_id: %s, discovery_url: '%s/.well-known/openid-configuration', audiences: [https://ai.azure.com]}
  assignments:
    - {role: Cognitive Services User, principal: 'object:%s', scope: '%s'}
rate_limits:
  rules: [{name: tiny, scope: deployment, deployments: [claude-tiny], tpm: 10}]
`, key1, scopedKey, testTenant, issuer, vmObject, roleScope)
}

// foundryToken is an Entra token for Foundry's scope from the local issuer,
// obtained by azidentity as an application on a VM would.
func foundryToken(t *testing.T) func(ctx context.Context) (string, error) {
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context) (string, error) {
		tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{foundry.EntraIDScope}})
		return tok.Token, err
	}
}

// TestClaudeGoSDK drives Claude through moat with the official Go SDK:
// the first-party client with a moat key (x-api-key) and the Foundry client
// with an Entra token, plain, streamed and counted, and moat's own 401, 403
// and 429 as the SDK sees them. Every call is a request-log row.
func TestClaudeGoSDK(t *testing.T) {
	issuer := startIssuer(t)
	ts := startServer(t, claudeSDKConfig(issuer, "/deployments/claude-sonnet-4-6"))
	base := ts.url + "/anthropic/"
	fc, err := foundry.NewClient(foundry.ClientConfig{BaseURL: base, AzureADTokenProvider: foundryToken(t)}, option.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]anthropic.MessageService{
		"key":   anthropic.NewClient(option.WithBaseURL(base), option.WithAPIKey(key1), option.WithMaxRetries(0)).Messages,
		"token": fc.Messages,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	params := anthropic.MessageNewParams{
		Model: "claude-sonnet-4-6", MaxTokens: 64,
		System:   []anthropic.TextBlockParam{{Text: "You are terse."}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello through moat"))},
	}
	for _, name := range []string{"key", "token"} {
		msgs := clients[name]
		t.Run(name+"/plain", func(t *testing.T) {
			m, err := msgs.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Content) == 0 || m.Content[0].Text == "" || m.Usage.InputTokens == 0 || m.Usage.OutputTokens == 0 {
				t.Fatalf("%+v", m)
			}
		})
		t.Run(name+"/streamed", func(t *testing.T) {
			st := msgs.NewStreaming(ctx, params)
			var acc anthropic.Message
			events := 0
			for st.Next() {
				if err := acc.Accumulate(st.Current()); err != nil {
					t.Fatal(err)
				}
				events++
			}
			if err := st.Err(); err != nil {
				t.Fatal(err)
			}
			if events < 5 || len(acc.Content) == 0 || acc.Content[0].Text == "" || acc.Usage.OutputTokens == 0 || acc.Usage.InputTokens == 0 {
				t.Fatalf("%d events, %+v", events, acc)
			}
		})
		t.Run(name+"/count_tokens", func(t *testing.T) {
			c, err := msgs.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: params.Model, Messages: params.Messages})
			if err != nil || c.InputTokens == 0 {
				t.Fatalf("%+v %v", c, err)
			}
		})
	}

	errorsFor := []struct {
		name   string
		client anthropic.MessageService
		model  string
		status int
		typ    string
	}{
		{"wrong key", anthropic.NewClient(option.WithBaseURL(base), option.WithAPIKey(strings.Repeat("x", 32)), option.WithMaxRetries(0)).Messages,
			"claude-sonnet-4-6", 401, "authentication_error"},
		{"key without the operation", anthropic.NewClient(option.WithBaseURL(base), option.WithAPIKey(scopedKey), option.WithMaxRetries(0)).Messages,
			"claude-sonnet-4-6", 403, "permission_error"},
		{"token without a role on the deployment", fc.Messages, "claude-tiny", 403, "permission_error"},
		{"moat's token limit", clients["key"], "claude-tiny", 429, "rate_limit_error"},
		{"unknown deployment", clients["key"], "claude-nope", 404, "not_found_error"},
	}
	for _, tt := range errorsFor {
		t.Run(tt.name, func(t *testing.T) {
			p := params
			p.Model = anthropic.Model(tt.model)
			_, err := tt.client.New(ctx, p)
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.status || string(apiErr.Type()) != tt.typ || apiErr.RequestID == "" {
				t.Fatalf("err = %v", err)
			}
		})
	}

	recs := ts.records()
	byAuth := map[string]int{}
	for _, r := range recs {
		if r.Status != 200 {
			continue
		}
		if r.Operation != "Messages_Create" && r.Operation != "Messages_CountTokens" {
			t.Fatalf("operation %q", r.Operation)
		}
		if r.Operation == "Messages_Create" && (r.PromptTokens == 0 || r.CompletionTokens == 0 || r.TokensEstimated || r.Upstream != "sim") {
			t.Fatalf("record %+v", r)
		}
		byAuth[r.AuthType]++
	}
	if byAuth["key"] != 3 || byAuth["entra"] != 3 {
		t.Fatalf("successful rows by auth type: %v", byAuth)
	}
}

// TestClaudeNodeSDK runs test/sdk/node/anthropic.test.mjs (the official
// @anthropic-ai/sdk: plain, streamed, tools, count_tokens, errors) through
// moat with baseURL {moat}/anthropic, once with a moat key and once with an
// Entra token from the local issuer.
func TestClaudeNodeSDK(t *testing.T) {
	issuer := startIssuer(t)
	// The role covers every deployment, so that an unknown one is a 404
	// (authorization comes before the lookup: a caller whose grants stop
	// at some deployments gets 403 for the others, existing or not).
	ts := startServer(t, claudeSDKConfig(issuer, "/"))
	tok := mintTokenFor(t, issuer, "https://ai.azure.com")
	common := []string{"ANTHROPIC_TEST_URL=" + ts.url + "/anthropic", "ANTHROPIC_TEST_MODEL=claude-sonnet-4-6"}
	t.Run("key", func(t *testing.T) {
		proctest.NodeTest(t, "../..", "anthropic.test.mjs", "@anthropic-ai/sdk", append(common, "ANTHROPIC_TEST_KEY="+key1)...)
	})
	t.Run("token", func(t *testing.T) {
		proctest.NodeTest(t, "../..", "anthropic.test.mjs", "@anthropic-ai/sdk", append(common, "ANTHROPIC_TEST_TOKEN="+tok)...)
	})
	if os.Getenv("CI") == "" && len(ts.records()) == 0 { // under CI, NodeTest fails instead
		t.Skip("the node suites did not run (node or test/sdk/node/node_modules missing locally)")
	}
	recs := ts.records()
	entra := 0
	for _, r := range recs {
		if r.AuthType == "entra" && r.Status == 200 && r.Operation == "Messages_Create" && r.TotalTokens > 0 {
			entra++
		}
	}
	if entra == 0 {
		t.Fatalf("no successful token-authenticated Claude row in %d records", len(recs))
	}
}

// TestClaudeCacheTokens: prompt-cache tokens count as prompt tokens in the
// request log (and so in limits): a long cached system prompt is written to
// the simulator's cache by the first call and read by the second.
func TestClaudeCacheTokens(t *testing.T) {
	ts := startServer(t, `
upstreams: [{name: sim, type: simulator}]
deployments: [{name: claude, model: claude-sonnet-4-6, upstreams: [{upstream: sim}]}]
`)
	system := strings.Repeat("The gateway applies the same rules to every model it serves. ", 200)
	body := fmt.Sprintf(`{"model":"claude","max_tokens":16,"system":[{"type":"text","text":%q,"cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"Hi"}]}`, system)
	type usage struct {
		Input         int `json:"input_tokens"`
		CacheCreation int `json:"cache_creation_input_tokens"`
		CacheRead     int `json:"cache_read_input_tokens"`
		Output        int `json:"output_tokens"`
	}
	var got []usage
	for range 2 {
		status, _, out := do(t, "POST", ts.url+"/anthropic/v1/messages", body, "x-api-key", "k", "anthropic-version", "2023-06-01")
		var m struct {
			Usage usage `json:"usage"`
		}
		if err := json.Unmarshal([]byte(out), &m); status != 200 || err != nil {
			t.Fatalf("%d %s", status, out)
		}
		got = append(got, m.Usage)
	}
	if got[0].CacheCreation == 0 || got[1].CacheRead == 0 {
		t.Fatalf("the simulator's cache was not used: %+v", got)
	}
	recs := ts.records()
	for i, u := range got {
		r := recs[i]
		if r.PromptTokens != u.Input+u.CacheCreation+u.CacheRead || r.CompletionTokens != u.Output || r.TokensEstimated {
			t.Fatalf("call %d: usage %+v, record %+v", i, u, r)
		}
	}
}
