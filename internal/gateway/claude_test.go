package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/moat-gw/moat/internal/idp"
)

// fakeClaude answers the Anthropic Messages API as api.anthropic.com and
// Foundry do: a message with usage (cache tokens included), the event
// sequence of a stream, a token count, and an overloaded error for the
// model "overloaded". It records what reached it.
type fakeClaude struct {
	*httptest.Server
	mu      sync.Mutex
	headers []http.Header
	bodies  []map[string]any
	paths   []string
}

func newFakeClaude(t *testing.T) *fakeClaude {
	f := &fakeClaude{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

const claudeMessage = `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hello from Claude"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":3,"cache_read_input_tokens":5,"output_tokens":7}}`

var claudeStream = []string{
	"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_02\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":3,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n",
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
	"event: ping\ndata: {\"type\": \"ping\"}\n\n",
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" there\"}}\n\n",
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":9}}\n\n",
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
}

func (f *fakeClaude) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	f.headers = append(f.headers, r.Header.Clone())
	f.bodies = append(f.bodies, body)
	f.paths = append(f.paths, r.URL.Path)
	f.mu.Unlock()
	w.Header().Set("Request-Id", "req_upstream")
	w.Header().Set("Anthropic-Ratelimit-Tokens-Remaining", "99000")
	w.Header().Set("Anthropic-Organization-Id", "org-secret")
	if r.Header.Get("X-Api-Key") != "upstream-secret" || r.Header.Get("Anthropic-Version") == "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		fmt.Fprint(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case body["model"] == "overloaded":
		w.WriteHeader(529)
		fmt.Fprint(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	case r.URL.Path == "/v1/messages/count_tokens":
		fmt.Fprint(w, `{"input_tokens":9}`)
	case r.URL.Path != "/v1/messages":
		w.WriteHeader(404)
		fmt.Fprint(w, `{"type":"error","error":{"type":"not_found_error","message":"Not found"}}`)
	case body["stream"] == true:
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range claudeStream {
			fmt.Fprint(w, ev)
			w.(http.Flusher).Flush()
		}
	default:
		fmt.Fprint(w, claudeMessage)
	}
}

func (f *fakeClaude) last() (string, http.Header, map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.paths) == 0 {
		return "", nil, nil
	}
	n := len(f.paths) - 1
	return f.paths[n], f.headers[n], f.bodies[n]
}

// claudeConfig serves deployment "claude" from an anthropic upstream at
// url, "overloaded" from the same anthropic upstream under that name,
// "gpt-4o-mini" from the simulator and "gpt-4o" from an OpenAI-compatible
// server (never called).
func claudeConfig(url, extra string) string {
	return fmt.Sprintf(`
upstreams:
  - {name: claude-up, type: anthropic, base_url: %s, api_key: upstream-secret}
  - {name: sim, type: simulator}
  - {name: oai, type: openai_compatible, base_url: 'http://127.0.0.1:9/v1'}
deployments:
  - {name: claude, model: claude-sonnet-4-5, upstreams: [{upstream: claude-up, deployment: claude-sonnet-4-5}]}
  - {name: overloaded, model: claude-sonnet-4-5, upstreams: [{upstream: claude-up}]}
  - {name: gpt-4o-mini, model: gpt-4o-mini, upstreams: [{upstream: sim}]}
  - {name: gpt-4o, model: gpt-4o, upstreams: [{upstream: oai}]}
%s`, url, extra)
}

const claudeBody = `{"model":"claude","max_tokens":64,"system":"Be brief.","messages":[{"role":"user","content":"Hello Claude"}]}`

// TestClaudeSurface calls the Anthropic Messages surface with raw HTTP as
// the Anthropic SDKs do (x-api-key, anthropic-version) and checks what moat
// forwards, what it answers, the Anthropic-shaped errors and the request
// log's rows.
func TestClaudeSurface(t *testing.T) {
	up := newFakeClaude(t)
	ts := startServer(t, claudeConfig(up.URL, fmt.Sprintf(`
auth:
  keys:
    - {name: key1, key: %s}
    - {name: chat-only, key: %s, operations: [chat]}
rate_limits:
  rules: [{name: tiny, scope: deployment, deployments: [overloaded], tpm: 10}]
`, key1, scopedKey)))
	msgs := ts.url + "/anthropic/v1/messages"
	sdk := []string{"x-api-key", key1, "anthropic-version", "2023-06-01"}
	anthropicErr := func(typ string) string { return `{"type":"error","error":{"type":"` + typ + `","message":` }
	tests := []struct {
		name       string
		url, body  string
		hdr        []string
		status     int
		bodyPrefix string
		contains   string
	}{
		{"message", msgs, claudeBody, sdk, 200, claudeMessage, ""},
		{"key as bearer", msgs, claudeBody, []string{"Authorization", "Bearer " + key1}, 200, claudeMessage, ""},
		{"key as api-key", msgs, claudeBody, []string{"api-key", key1}, 200, claudeMessage, ""},
		{"count tokens", msgs + "/count_tokens", claudeBody, sdk, 200, `{"input_tokens":9}`, ""},
		{"no key", msgs, claudeBody, nil, 401, anthropicErr("authentication_error"), "invalid subscription key"},
		{"wrong key", msgs, claudeBody, []string{"x-api-key", strings.Repeat("x", 32)}, 401, anthropicErr("authentication_error"), ""},
		{"key without the operation", msgs, claudeBody, []string{"x-api-key", scopedKey}, 403, anthropicErr("permission_error"),
			"Microsoft.CognitiveServices/accounts/Anthropic/messages/action"},
		{"unknown deployment", msgs, `{"model":"nope","max_tokens":5,"messages":[]}`, sdk, 404, anthropicErr("not_found_error"), ""},
		{"no model", msgs, `{"max_tokens":5,"messages":[]}`, sdk, 400, anthropicErr("invalid_request_error"), "model"},
		{"bad json", msgs, `{"model":`, sdk, 400, anthropicErr("invalid_request_error"), ""},
		{"unknown path", ts.url + "/anthropic/v1/complete", claudeBody, sdk, 404, anthropicErr("not_found_error"), ""},
		{"openai deployment on the anthropic surface", msgs, `{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, sdk,
			400, anthropicErr("invalid_request_error"), "not served through the Anthropic Messages API"},
		{"claude deployment on the openai surface", ts.url + "/openai/v1/chat/completions", `{"model":"claude","messages":[{"role":"user","content":"x"}]}`,
			[]string{"api-key", key1}, 400, `{"error":{"code":"OperationNotSupported"`, "serves the Anthropic Messages API only"},
		{"claude deployment on the legacy surface", ts.url + "/openai/deployments/claude/chat/completions?api-version=2024-10-21", chatBody,
			[]string{"api-key", key1}, 400, `{"error":{"code":"OperationNotSupported"`, ""},
		{"moat's limit", msgs, `{"model":"overloaded","max_tokens":64,"messages":[{"role":"user","content":"x"}]}`, sdk, 429, anthropicErr("rate_limit_error"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := do(t, "POST", tt.url, tt.body, tt.hdr...)
			if status != tt.status || !strings.HasPrefix(body, tt.bodyPrefix) || !strings.Contains(body, tt.contains) {
				t.Fatalf("%d %s\nwant %d %s… containing %q", status, body, tt.status, tt.bodyPrefix, tt.contains)
			}
			if h.Get("Anthropic-Organization-Id") != "" {
				t.Fatal("the upstream's organization reached the client")
			}
			if strings.HasPrefix(tt.url, msgs) && (h.Get("Request-Id") == "" || h.Get("Request-Id") != h.Get("Apim-Request-Id")) {
				t.Fatalf("request-id %q, apim-request-id %q", h.Get("Request-Id"), h.Get("Apim-Request-Id"))
			}
			if status == 200 && h.Get("Upstream-Request-Id") != "req_upstream" {
				t.Fatalf("upstream-request-id %q", h.Get("Upstream-Request-Id"))
			}
			if status == 429 && h.Get("Retry-After") == "" {
				t.Fatalf("429 without retry-after: %v", h)
			}
		})
	}
	up.mu.Lock()
	if len(up.paths) != 4 || up.paths[0] != "/v1/messages" || up.paths[3] != "/v1/messages/count_tokens" || up.bodies[0]["model"] != "claude-sonnet-4-5" {
		t.Fatalf("upstream saw %v %v", up.paths, up.bodies)
	}
	for _, hdr := range up.headers {
		if hdr.Get("Api-Key") != "" || hdr.Get("Authorization") != "" || hdr.Get("Anthropic-Version") != "2023-06-01" {
			t.Fatalf("upstream headers %v", hdr)
		}
	}
	up.mu.Unlock()

	recs := ts.records()
	byStatus := map[string]int{}
	for _, r := range recs {
		byStatus[r.Operation+" "+fmt.Sprint(r.Status)]++
	}
	first := recs[0]
	if first.Operation != "Messages_Create" || first.Deployment != "claude" || first.Upstream != "claude-up" ||
		first.PromptTokens != 20 || first.CompletionTokens != 7 || first.TotalTokens != 27 || first.TokensEstimated {
		t.Fatalf("message record %+v", first)
	}
	ct := recs[3]
	if ct.Operation != "Messages_CountTokens" || ct.Status != 200 || ct.TotalTokens != 0 || ct.TokensEstimated {
		t.Fatalf("count_tokens record %+v", ct)
	}
	if byStatus["Messages_Create 403"] != 1 || byStatus["Messages_Create 429"] != 1 {
		t.Fatalf("records by operation and status: %v", byStatus)
	}
}

// TestClaudeStream: a Messages stream passes event by event; usage comes
// from message_start and message_delta, the first token is the first
// content_block_delta, and an upstream's own error passes through as is.
func TestClaudeStream(t *testing.T) {
	up := newFakeClaude(t)
	ts := startServer(t, claudeConfig(up.URL, ""))
	req, _ := http.NewRequest("POST", ts.url+"/anthropic/v1/messages",
		strings.NewReader(`{"model":"claude","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`))
	req.Header.Set("x-api-key", "anything")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != strings.Join(claudeStream, "") {
		t.Fatalf("%d %q", resp.StatusCode, got)
	}
	if _, _, body := up.last(); body["stream_options"] != nil {
		t.Fatalf("stream_options sent to an Anthropic upstream: %v", body)
	}
	status, _, body := do(t, "POST", ts.url+"/anthropic/v1/messages", `{"model":"overloaded","max_tokens":5,"messages":[]}`)
	if status != 529 || body != `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}` {
		t.Fatalf("upstream error: %d %s", status, body)
	}
	recs := ts.records()
	r := recs[0]
	if !r.Streamed || r.PromptTokens != 20 || r.CompletionTokens != 9 || r.TokensEstimated || r.FirstTokenMs <= 0 || r.FirstTokenMs < r.FirstByteMs {
		t.Fatalf("stream record %+v", r)
	}
	if recs[1].Status != 529 || recs[1].ErrorKind != "upstream_error" {
		t.Fatalf("overloaded record %+v", recs[1])
	}
}

// mintTokenFor gets a managed-identity token for resource from the local
// issuer, as a VM would (Foundry's SDKs ask for https://ai.azure.com).
func mintTokenFor(t *testing.T, issuer, resource string) string {
	t.Helper()
	status, _, body := do(t, "GET", issuer+idp.MSIPath+"?api-version=2019-08-01&resource="+resource, "",
		"X-IDENTITY-HEADER", msiSecret)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &tok); status != 200 || err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", status, body)
	}
	return tok.AccessToken
}

// TestClaudeToken: an Entra token for Foundry's audience calls Claude when
// a role grants the Anthropic data action at the deployment's scope, and
// gets Anthropic's 403 permission_error where only an OpenAI role is
// assigned.
func TestClaudeToken(t *testing.T) {
	issuer := startIssuer(t)
	up := newFakeClaude(t)
	ts := startServer(t, claudeConfig(up.URL, fmt.Sprintf(`
auth:
  issuers:
    - {name: local, tenant_id: %s, discovery_url: '%s/.well-known/openid-configuration', audiences: [https://cognitiveservices.azure.com, https://ai.azure.com]}
  assignments:
    - {role: Cognitive Services User, principal: 'object:%s', scope: /deployments/claude}
    - {role: Cognitive Services OpenAI User, principal: 'object:%s', scope: /deployments/overloaded}
`, testTenant, issuer, vmObject, vmObject)))
	tok := mintTokenFor(t, issuer, "https://ai.azure.com")
	status, h, body := do(t, "POST", ts.url+"/anthropic/v1/messages", claudeBody, "Authorization", "Bearer "+tok, "anthropic-version", "2023-06-01")
	if status != 200 || body != claudeMessage {
		t.Fatalf("assigned deployment: %d %s", status, body)
	}
	if _, hdr, _ := up.last(); hdr.Get("Authorization") != "" || hdr.Get("X-Api-Key") != "upstream-secret" {
		t.Fatalf("upstream credentials %v", hdr)
	}
	status, h, body = do(t, "POST", ts.url+"/anthropic/v1/messages", `{"model":"overloaded","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`,
		"Authorization", "Bearer "+tok)
	if status != 403 || !strings.HasPrefix(body, `{"type":"error","error":{"type":"permission_error","message":"The principal `+"`"+vmObject+"` lacks the required data action `Microsoft.CognitiveServices/accounts/Anthropic/messages/action`") ||
		!strings.Contains(body, "to perform `POST /anthropic/v1/messages` operation") || h.Get("Request-Id") == "" {
		t.Fatalf("OpenAI role on a Claude deployment: %d %v %s", status, h, body)
	}
	recs := ts.records()
	if recs[0].AuthType != "entra" || recs[0].Caller != vmObject || recs[0].Status != 200 || recs[0].TotalTokens != 27 {
		t.Fatalf("record %+v", recs[0])
	}
	if recs[1].Status != 403 || recs[1].ErrorKind != "policy_forbidden" {
		t.Fatalf("denial record %+v", recs[1])
	}
}

// TestClaudeGuardrails: a block rule on Claude answers in Anthropic's
// shapes: a refused prompt is an invalid_request_error, a plain answer
// becomes a refusal with no content, and a stream ends with a refusal
// message_delta and message_stop, never an OpenAI chunk.
func TestClaudeGuardrails(t *testing.T) {
	up := newFakeClaude(t)
	ts := startServer(t, claudeConfig(up.URL, `
guardrails:
  - {name: secret_word, regex: 'forbidden|there', action: block, apply_to: both}
`))
	status, _, body := do(t, "POST", ts.url+"/anthropic/v1/messages",
		`{"model":"claude","max_tokens":64,"messages":[{"role":"user","content":"say forbidden"}]}`)
	if status != 400 || !strings.Contains(body, `"type":"invalid_request_error"`) || !strings.HasPrefix(body, `{"type":"error"`) {
		t.Fatalf("blocked prompt: %d %s", status, body)
	}
	// The fake answers "Hello from Claude" plainly: no match, passed as is.
	status, _, body = do(t, "POST", ts.url+"/anthropic/v1/messages", claudeBody)
	if status != 200 || body != claudeMessage {
		t.Fatalf("clean answer: %d %s", status, body)
	}
	// The stream says " there": the answer is cut as a refusal.
	req, _ := http.NewRequest("POST", ts.url+"/anthropic/v1/messages",
		strings.NewReader(`{"model":"claude","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`))
	req.Header.Set("x-api-key", "anything")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s := string(got)
	if resp.StatusCode != 200 || strings.Contains(s, "choices") || strings.Contains(s, " there") ||
		!strings.HasSuffix(s, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") || !strings.Contains(s, `"stop_reason":"refusal"`) {
		t.Fatalf("cut stream: %d %q", resp.StatusCode, s)
	}
}
