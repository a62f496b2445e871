package gateway

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/openai"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestErrorEnvelopes pins Azure's error answers byte for byte (wire reference §2.7, §2.8).
func TestErrorEnvelopes(t *testing.T) {
	ts := startServer(t, "limits: {max_body_bytes: 1KiB}")
	big := `{"messages":[{"role":"user","content":"` + strings.Repeat("x", 2048) + `"}]}`
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantBody   string
	}{
		{"unknown path", "POST", "/nothing/here", chatBody, 404, `{"error":{"code":"404","message": "Resource not found"}}`},
		{"missing api-version", "POST", "/openai/deployments/gpt-4o-mini/chat/completions", chatBody, 404, `{"error":{"code":"404","message": "Resource not found"}}`},
		{"unsupported api-version", "POST", "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2099-01-01", chatBody, 404, `{"error":{"code":"404","message": "Resource not found"}}`},
		{"unknown operation", "POST", "/openai/deployments/gpt-4o-mini/chat/completion?api-version=2024-10-21", chatBody, 404, `{"error":{"code":"404","message": "Resource not found"}}`},
		{"GET on an operation", "GET", "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", "", 404, `{"error":{"code":"404","message": "Resource not found"}}`},
		{"dated api-version on v1", "POST", "/openai/v1/chat/completions?api-version=2024-10-21", `{"model":"gpt-4o-mini"}`, 400, `{"error":{"code":"BadRequest","message":"API version not supported"}}`},
		{"unknown deployment", "POST", "/openai/deployments/nope/chat/completions?api-version=2024-10-21", chatBody, 404,
			`{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}`},
		{"unknown v1 model", "POST", "/openai/v1/chat/completions", `{"model":"nope","messages":[]}`, 404,
			`{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}`},
		{"malformed JSON", "POST", "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", `{"messages": [`, 400,
			`{"error":{"message":"request body is not valid JSON","type":"invalid_request_error","param":null,"code":null}}`},
		{"JSON not an object", "POST", "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", `[1,2]`, 400,
			`{"error":{"message":"request body must be a JSON object","type":"invalid_request_error","param":null,"code":null}}`},
		{"wrong field type", "POST", "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", `{"stream":"yes"}`, 400,
			`{"error":{"message":"invalid type for 'stream': expected bool","type":"invalid_request_error","param":null,"code":null}}`},
		{"v1 without model", "POST", "/openai/v1/chat/completions", `{"messages":[]}`, 400,
			`{"error":{"message":"you must provide a model parameter","type":"invalid_request_error","param":"model","code":null}}`},
		{"oversized body", "POST", "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", big, 413,
			`{"error":{"message":"Request body too large. The maximum size is 1024 bytes.","type":"invalid_request_error","param":null,"code":"request_too_large"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := do(t, tt.method, ts.url+tt.path, tt.body, "api-key", "k")
			if status != tt.wantStatus || body != tt.wantBody {
				t.Fatalf("got %d %s\nwant %d %s", status, body, tt.wantStatus, tt.wantBody)
			}
			if !uuidRE.MatchString(h.Get("apim-request-id")) {
				t.Fatalf("apim-request-id %q", h.Get("apim-request-id"))
			}
			if h.Get("Content-Type") != "application/json" || h.Get("x-ms-region") == "" {
				t.Fatalf("headers %v", h)
			}
		})
	}
	recs := ts.records()
	if len(recs) != len(tests) {
		t.Fatalf("%d log records for %d calls", len(recs), len(tests))
	}
	for _, r := range recs {
		if r.ErrorKind == "" || r.Status < 400 {
			t.Errorf("record without error kind: %+v", r)
		}
	}
}

// TestSimulatorDefaults drives the zero-config gateway on every surface.
func TestSimulatorDefaults(t *testing.T) {
	ts := startServer(t, "")
	tests := []struct {
		name, path, body string
	}{
		{"legacy chat", "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", chatBody},
		{"v1 chat", "/openai/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`},
		{"openai chat", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`},
		{"legacy embeddings", "/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-02-01", `{"input":"hello"}`},
		{"v1 embeddings", "/openai/v1/embeddings", `{"model":"text-embedding-3-small","input":["a","b"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := do(t, "POST", ts.url+tt.path, tt.body, "api-key", "k")
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			var r struct {
				Usage openai.Usage `json:"usage"`
			}
			if err := json.Unmarshal([]byte(body), &r); err != nil || r.Usage.TotalTokens == 0 {
				t.Fatalf("usage missing: %s", body)
			}
			if !uuidRE.MatchString(h.Get("apim-request-id")) || h.Get("x-request-id") == "" {
				t.Fatalf("correlation headers %v", h)
			}
		})
	}
	lists := []struct {
		path, want string
		status     int
	}{
		{"/openai/models?api-version=2024-10-21", `"chat_completion":true`, 200},
		{"/openai/v1/models", `"id":"gpt-4o-mini"`, 200},
		{"/v1/models", `"object":"list"`, 200},
		{"/openai/deployments?api-version=2022-12-01", `"scale_type":"standard"`, 200},
		{"/openai/deployments/gpt-4o?api-version=2022-12-01", `"id":"gpt-4o"`, 200},
		{"/openai/models/text-embedding-3-small?api-version=2024-10-21", `"chat_completion":false,"embeddings":true},"lifecycle_status":"generally-available","id":"text-embedding-3-small"`, 200},
		{"/openai/v1/models/gpt-4o", `{"id":"gpt-4o","object":"model",`, 200},
		{"/v1/models/gpt-4o-mini", `"owned_by":"organization-owner"`, 200},
		{"/v1/models/nope", `"code":"model_not_found"`, 404},
		{"/openai/models/nope?api-version=2024-10-21", `"code":"model_not_found"`, 404},
	}
	for _, l := range lists {
		status, _, body := do(t, "GET", ts.url+l.path, "", "api-key", "k")
		if status != l.status || !strings.Contains(body, l.want) {
			t.Errorf("GET %s: %d %s", l.path, status, body)
		}
	}
	recs := ts.records()
	if len(recs) != len(tests)+len(lists) {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs[:len(tests)] {
		if r.Status != 200 || r.Deployment == "" || r.Upstream != "simulator" || r.TotalTokens == 0 || r.TokensEstimated ||
			r.Operation == "" || r.ClientIP != "127.0.0.1" || r.Listener != "data" {
			t.Errorf("record %+v", r)
		}
	}
}

// TestMetrics checks the management plane exposes the documented series.
func TestMetrics(t *testing.T) {
	ts := startServer(t, "")
	do(t, "POST", ts.url+"/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", chatBody, "api-key", "k")
	// A call is counted as its handler returns, just after the client has
	// the answer, so wait for it to show.
	// finish counts the call before it observes its durations, so wait for
	// every series, not only the counter.
	names := []string{
		`moat_requests_total{deployment="gpt-4o-mini",error_kind="",operation="chat",status="200"} 1`,
		`moat_tokens_total{deployment="gpt-4o-mini",type="completion"}`,
		"moat_request_duration_seconds_bucket", "moat_time_to_first_byte_seconds_bucket",
		"moat_upstream_duration_seconds_bucket", "moat_inflight_requests", "moat_log_records_dropped_total",
	}
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var status int
		status, _, body = do(t, "GET", ts.mgmtURL+"/metrics", "")
		if status != 200 {
			t.Fatal(status)
		}
		all := true
		for _, n := range names {
			all = all && strings.Contains(body, n)
		}
		if all || time.Now().After(deadline) {
			break
		}
	}
	for _, name := range names {
		if !strings.Contains(body, name) {
			t.Errorf("metrics lack %s", name)
		}
	}
	if strings.Contains(body, `api-key`) || strings.Contains(body, "k\"") {
		t.Error("metrics carry request credentials")
	}
	// Metrics are not on the data plane.
	if status, _, _ := do(t, "GET", ts.url+"/metrics", ""); status != http.StatusNotFound {
		t.Errorf("data plane /metrics = %d", status)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, _, _ := do(t, "GET", ts.url+p, ""); status != 200 {
			t.Errorf("%s = %d", p, status)
		}
	}
}
