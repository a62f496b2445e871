package simulator

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/openai"
)

func TestErrorBodies(t *testing.T) {
	const chatBody = `{"messages":[{"role":"user","content":"hi"}]}`
	notFound := `{"error":{"code":"404","message": "Resource not found"}}`
	deploymentNotFound := `{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}`
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantBody   string
	}{
		{name: "unknown path", method: "POST", path: "/openai/foo?api-version=2024-10-21", body: chatBody, wantStatus: 404, wantBody: notFound},
		{name: "root", method: "GET", path: "/", wantStatus: 404, wantBody: notFound},
		{name: "missing api-version", method: "POST", path: "/openai/deployments/gpt-4o-mini/chat/completions", body: chatBody, wantStatus: 404, wantBody: notFound},
		{name: "malformed api-version", method: "POST", path: "/openai/deployments/gpt-4o-mini/chat/completions?api-version=latest", body: chatBody, wantStatus: 404, wantBody: notFound},
		{name: "unserved operation", method: "POST", path: "/openai/deployments/gpt-4o-mini/images/edits?api-version=2024-10-21", body: chatBody, wantStatus: 404, wantBody: notFound},
		{name: "operation of another kind", method: "POST", path: "/openai/deployments/gpt-4o-mini/images/generations?api-version=2024-10-21", body: `{"prompt":"x"}`, wantStatus: 400, wantBody: `{"error":{"code":"OperationNotSupported","message": "The images operation does not work with the specified model, gpt-4o-mini. Please choose different model and try again. You can learn more about which models can be used with each operation here: https://go.microsoft.com/fwlink/?linkid=2197993."}}`},
		{name: "GET on an operation", method: "GET", path: chatPath, wantStatus: 404, wantBody: notFound},
		{name: "models without api-version", method: "GET", path: "/openai/models", wantStatus: 404, wantBody: notFound},
		{name: "unknown deployment legacy", method: "POST", path: "/openai/deployments/nope/chat/completions?api-version=2024-10-21", body: chatBody, wantStatus: 404, wantBody: deploymentNotFound},
		{name: "unknown deployment beats bad body", method: "POST", path: "/openai/deployments/nope/chat/completions?api-version=2024-10-21", body: `{`, wantStatus: 404, wantBody: deploymentNotFound},
		{name: "unknown deployment v1", method: "POST", path: "/openai/v1/chat/completions", body: `{"model":"nope","messages":[]}`, wantStatus: 404, wantBody: deploymentNotFound},
		{name: "unknown deployment plain", method: "POST", path: "/v1/chat/completions", body: `{"model":"nope","messages":[]}`, wantStatus: 404, wantBody: deploymentNotFound},
		{name: "dated version on v1", method: "POST", path: "/openai/v1/chat/completions?api-version=2024-10-21", body: chatBody, wantStatus: 400,
			wantBody: `{"error":{"code":"BadRequest","message":"API version not supported"}}`},
		{name: "malformed JSON", method: "POST", path: chatPath, body: `{"messages":`, wantStatus: 400,
			wantBody: `{"error":{"message":"` + msgBadJSON + `","type":"invalid_request_error","param":null,"code":null}}`},
		{name: "empty body", method: "POST", path: chatPath, body: ``, wantStatus: 400,
			wantBody: `{"error":{"message":"` + msgBadJSON + `","type":"invalid_request_error","param":null,"code":null}}`},
		{name: "body not an object", method: "POST", path: chatPath, body: `[1]`, wantStatus: 400,
			wantBody: `{"error":{"message":"request body must be a JSON object","type":"invalid_request_error","param":null,"code":null}}`},
		{name: "wrong field type", method: "POST", path: chatPath, body: `{"stream":"yes"}`, wantStatus: 400,
			wantBody: `{"error":{"message":"invalid type for 'stream': expected bool","type":"invalid_request_error","param":null,"code":null}}`},
		{name: "v1 without model", method: "POST", path: "/openai/v1/chat/completions", body: chatBody, wantStatus: 400,
			wantBody: `{"error":{"message":"you must provide a model parameter","type":"invalid_request_error","param":null,"code":null}}`},
		{name: "embeddings on a chat deployment", method: "POST", path: "/openai/deployments/gpt-4o/embeddings?api-version=2024-10-21", body: `{"input":"x"}`, wantStatus: 400,
			wantBody: `{"error":{"code":"OperationNotSupported","message": "The embeddings operation does not work with the specified model, gpt-4o. Please choose different model and try again. You can learn more about which models can be used with each operation here: https://go.microsoft.com/fwlink/?linkid=2197993."}}`},
		{name: "chat on an embeddings deployment", method: "POST", path: "/openai/v1/chat/completions", body: `{"model":"text-embedding-3-small","messages":[]}`, wantStatus: 400,
			wantBody: `{"error":{"code":"OperationNotSupported","message": "The chatCompletion operation does not work with the specified model, text-embedding-3-small. Please choose different model and try again. You can learn more about which models can be used with each operation here: https://go.microsoft.com/fwlink/?linkid=2197993."}}`},
		{name: "completions on a chat deployment", method: "POST", path: "/openai/deployments/gpt-4o/completions?api-version=2024-10-21", body: `{"prompt":"x"}`, wantStatus: 400,
			wantBody: `{"error":{"code":"OperationNotSupported","message": "The completion operation does not work with the specified model, gpt-4o. Please choose different model and try again. You can learn more about which models can be used with each operation here: https://go.microsoft.com/fwlink/?linkid=2197993."}}`},
		{name: "missing messages", method: "POST", path: chatPath, body: `{}`, wantStatus: 400,
			wantBody: `{"error":{"message":"Missing required parameter: 'messages'.","type":"invalid_request_error","param":"messages","code":"missing_required_parameter"}}`},
		{name: "empty messages", method: "POST", path: chatPath, body: `{"messages":[]}`, wantStatus: 400,
			wantBody: `{"error":{"message":"Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.","type":"invalid_request_error","param":"messages","code":"empty_array"}}`},
		{name: "max_tokens zero", method: "POST", path: chatPath, body: `{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}`, wantStatus: 400,
			wantBody: `{"error":{"message":"Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got 0 instead.","type":"invalid_request_error","param":"max_tokens","code":"integer_below_min_value"}}`},
		{name: "n too large", method: "POST", path: chatPath, body: `{"messages":[{"role":"user","content":"hi"}],"n":129}`, wantStatus: 400,
			wantBody: `{"error":{"message":"Invalid 'n': integer above maximum value. Expected a value <= 128, but got 129 instead.","type":"invalid_request_error","param":"n","code":"integer_above_max_value"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, testOptions(newClock()))
			rec := call(s, tt.method, tt.path, tt.body)
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Body.String(); got != tt.wantBody {
				t.Errorf("body:\n got %s\nwant %s", got, tt.wantBody)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

func TestAPIKey(t *testing.T) {
	invalid := string(openai.FrontDoorErrorCompact("401", openai.MsgInvalidKey))
	tests := []struct {
		name       string
		header     []string
		wantStatus int
	}{
		{name: "no credentials", wantStatus: 401},
		{name: "wrong api-key", header: []string{"api-key", "wrong"}, wantStatus: 401},
		{name: "wrong bearer", header: []string{"Authorization", "Bearer wrong"}, wantStatus: 401},
		{name: "api-key", header: []string{"api-key", "s3cret"}, wantStatus: 200},
		{name: "Api-Key as openai-go sends it", header: []string{"Api-Key", "s3cret"}, wantStatus: 200},
		{name: "bearer key", header: []string{"Authorization", "Bearer s3cret"}, wantStatus: 200},
		{name: "lower-case bearer", header: []string{"Authorization", "bearer s3cret"}, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(newClock())
			opts.APIKey = "s3cret"
			s := newServer(t, opts)
			rec := call(s, "POST", chatPath, `{"messages":[{"role":"user","content":"hi"}]}`, tt.header...)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantStatus == 401 && rec.Body.String() != invalid {
				t.Errorf("body = %s, want %s", rec.Body, invalid)
			}
			if strings.Contains(rec.Body.String(), "s3cret") {
				t.Error("the key leaked into the body")
			}
		})
	}
}

func TestCommonHeaders(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	tests := []struct {
		name      string
		path      string
		body      string
		wantModel bool // x-ratelimit-* and cache-control, as on model answers
	}{
		{name: "chat", path: chatPath, body: `{"messages":[{"role":"user","content":"hi"}]}`, wantModel: true},
		{name: "embeddings", path: embedPath, body: `{"input":"hi"}`, wantModel: true},
		{name: "not found", path: "/nope", body: `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(newClock())
			opts.Region = "Japan East"
			s := newServer(t, opts)
			rec := call(s, "POST", tt.path, tt.body, "x-ms-client-request-id", "client-123")
			h := rec.Header()
			for _, k := range []string{"apim-request-id", "x-request-id"} {
				if !uuid.MatchString(h.Get(k)) {
					t.Errorf("%s = %q, want a UUID", k, h.Get(k))
				}
			}
			if h.Get("apim-request-id") == h.Get("x-request-id") {
				t.Error("apim-request-id and x-request-id are equal")
			}
			if got := h.Get("x-ms-region"); got != "Japan East" {
				t.Errorf("x-ms-region = %q", got)
			}
			if got := h.Get("x-ms-client-request-id"); got != "client-123" {
				t.Errorf("x-ms-client-request-id = %q", got)
			}
			for _, k := range []string{"x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens", "x-ratelimit-limit-requests", "x-ratelimit-limit-tokens", "cache-control"} {
				if got := h.Get(k) != ""; got != tt.wantModel {
					t.Errorf("%s present = %v, want %v", k, got, tt.wantModel)
				}
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Options)
		wantErr []string
	}{
		{name: "defaults", mutate: func(*Options) {}},
		{name: "no deployments", mutate: func(o *Options) { o.Deployments = nil }, wantErr: []string{"no deployments"}},
		{name: "everything wrong at once", mutate: func(o *Options) {
			o.Deployments = append(o.Deployments,
				Deployment{Name: "gpt-4o"},
				Deployment{Name: "x", Kind: "video", TPM: -1, RPM: -1, EmbeddingDims: -3},
				Deployment{})
			o.Latency = Latency{TimeToFirstToken: -1, TokensPerSecond: -1, Jitter: 2}
			o.Faults = Faults{ErrorRate: -0.1, TimeoutRate: 1.5, DropStreamRate: 2, RateLimitRate: 3}
		}, wantErr: []string{"duplicate name", "unknown kind", "negative TPM", "negative RPM", "embedding dims", "empty name",
			"time to first token", "tokens per second", "jitter", "error rate", "timeout rate", "drop stream rate", "rate limit rate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultOptions()
			tt.mutate(&opts)
			_, err := New(opts, sharedCounter(), nil)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := New(DefaultOptions(), nil, nil); err == nil {
		t.Error("New with a nil counter succeeded")
	}
}

func TestDefaultsFilled(t *testing.T) {
	s, err := New(Options{Deployments: []Deployment{{Name: "chat"}, {Name: "emb", Kind: KindEmbeddings}}}, sharedCounter(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.opts.Region != DefaultRegion {
		t.Errorf("region = %q", s.opts.Region)
	}
	if d := s.deployments["chat"]; d.Kind != KindChat || d.Model != "chat" {
		t.Errorf("chat deployment = %+v", d.Deployment)
	}
	if d := s.deployments["emb"]; d.EmbeddingDims != DefaultEmbeddingDims {
		t.Errorf("embedding dims = %d", d.EmbeddingDims)
	}
	if got := s.Deployments(); len(got) != 2 || got[0].Kind != KindChat || got[1].EmbeddingDims != DefaultEmbeddingDims {
		t.Errorf("Deployments() = %+v", got)
	}
	if err := s.opts.Sleep(t.Context(), 0); err != nil {
		t.Errorf("default sleep: %v", err)
	}
}

func TestModelListings(t *testing.T) {
	tests := []struct {
		name string
		path string
		want string
	}{
		{name: "azure authoring", path: "/openai/models?api-version=2024-10-21",
			want: `{"data":[{"capabilities":{"fine_tune":false,"inference":true,"completion":false,"chat_completion":true,"embeddings":false},"lifecycle_status":"generally-available","deprecation":{"inference":1784332800},"id":"gpt-4o-mini-2024-07-18","status":"succeeded","created_at":1721260800,"object":"model"},` +
				`{"capabilities":{"fine_tune":false,"inference":true,"completion":false,"chat_completion":true,"embeddings":false},"lifecycle_status":"generally-available","deprecation":{"inference":1784332800},"id":"gpt-4o-2024-11-20","status":"succeeded","created_at":1721260800,"object":"model"},` +
				`{"capabilities":{"fine_tune":false,"inference":true,"completion":false,"chat_completion":false,"embeddings":true},"lifecycle_status":"generally-available","deprecation":{"inference":1784332800},"id":"text-embedding-3-small","status":"succeeded","created_at":1721260800,"object":"model"}],"object":"list"}`},
		{name: "azure v1", path: "/openai/v1/models",
			want: `{"data":[{"id":"gpt-4o-mini-2024-07-18","object":"model","created":1721260800,"owned_by":"system","capabilities":{"fine_tune":false,"inference":true,"completion":false,"chat_completion":true,"embeddings":false},"lifecycle_status":"generally-available","status":"succeeded"},` +
				`{"id":"gpt-4o-2024-11-20","object":"model","created":1721260800,"owned_by":"system","capabilities":{"fine_tune":false,"inference":true,"completion":false,"chat_completion":true,"embeddings":false},"lifecycle_status":"generally-available","status":"succeeded"},` +
				`{"id":"text-embedding-3-small","object":"model","created":1721260800,"owned_by":"system","capabilities":{"fine_tune":false,"inference":true,"completion":false,"chat_completion":false,"embeddings":true},"lifecycle_status":"generally-available","status":"succeeded"}],"object":"list"}`},
		{name: "plain openai", path: "/v1/models",
			want: `{"data":[{"id":"gpt-4o-mini","object":"model","created":1721260800,"owned_by":"system"},{"id":"gpt-4o","object":"model","created":1721260800,"owned_by":"system"},{"id":"text-embedding-3-small","object":"model","created":1721260800,"owned_by":"system"}],"object":"list"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, testOptions(newClock()))
			rec := call(s, "GET", tt.path, "")
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d: %s", rec.Code, rec.Body)
			}
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("body:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestValidAPIVersion(t *testing.T) {
	tests := []struct {
		name string
		v    string
		want bool
	}{
		{name: "GA", v: "2024-10-21", want: true},
		{name: "preview", v: "2025-04-01-preview", want: true},
		{name: "empty", v: "", want: false},
		{name: "v1", v: "v1", want: false},
		{name: "letters", v: "2024-1a-21", want: false},
		{name: "short", v: "2024-10-2", want: false},
		{name: "other suffix", v: "2024-10-21-beta", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validAPIVersion(tt.v); got != tt.want {
				t.Errorf("validAPIVersion(%q) = %v, want %v", tt.v, got, tt.want)
			}
		})
	}
}

// errReader fails like a client that hangs up while sending its body.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
