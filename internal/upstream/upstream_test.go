package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/moat-gw/moat/internal/openai"
)

func op(name string) openai.Operation {
	o, _ := openai.OperationByName(name)
	return o
}

func TestURL(t *testing.T) {
	tests := []struct {
		name string
		typ  Type
		base string
		call Call
		want string
	}{
		{"azure legacy passes api-version", TypeAzure, "https://contoso.openai.azure.com/", Call{Operation: op("chat"), Deployment: "prod", APIVersion: "2024-06-01"},
			"https://contoso.openai.azure.com/openai/deployments/prod/chat/completions?api-version=2024-06-01"},
		{"azure from v1 uses configured version", TypeAzure, "https://contoso.openai.azure.com", Call{Operation: op("embeddings"), Deployment: "emb", APIVersion: ""},
			"https://contoso.openai.azure.com/openai/deployments/emb/embeddings?api-version=2024-10-21"},
		{"azure from v1 preview uses configured version", TypeAzure, "https://contoso.openai.azure.com", Call{Operation: op("chat"), Deployment: "c", APIVersion: "preview"},
			"https://contoso.openai.azure.com/openai/deployments/c/chat/completions?api-version=2024-10-21"},
		{"azure responses on v1", TypeAzure, "https://contoso.openai.azure.com", Call{Operation: op("responses"), Deployment: "c", APIVersion: ""},
			"https://contoso.openai.azure.com/openai/v1/responses"},
		{"deployment escaped", TypeAzure, "https://x", Call{Operation: op("chat"), Deployment: "a b/c", APIVersion: "2024-10-21"},
			"https://x/openai/deployments/a%20b%2Fc/chat/completions?api-version=2024-10-21"},
		{"openai", TypeOpenAI, "https://api.openai.com/v1/", Call{Operation: op("chat"), Deployment: "gpt-4o", APIVersion: ""}, "https://api.openai.com/v1/chat/completions"},
		{"azure stored response on v1", TypeAzure, "https://contoso.openai.azure.com", Call{Operation: op("responses"), Path: "responses/resp_1/input_items",
			Query: url.Values{"limit": {"5"}}}, "https://contoso.openai.azure.com/openai/v1/responses/resp_1/input_items?limit=5"},
		{"openai stored response", TypeOpenAI, "https://api.openai.com/v1", Call{Operation: op("responses"), Path: "responses/resp_1/cancel"},
			"https://api.openai.com/v1/responses/resp_1/cancel"},
		{"compatible audio", TypeOpenAICompatible, "http://vllm:8000/v1", Call{Operation: op("transcriptions"), Deployment: "w", APIVersion: ""}, "http://vllm:8000/v1/audio/transcriptions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := New(Options{Name: "u", Type: tt.typ, BaseURL: tt.base, APIVersion: "2024-10-21"})
			if err != nil {
				t.Fatal(err)
			}
			u := tg.URL(tt.call)
			if got := u.String(); got != tt.want {
				t.Fatalf("got %s\nwant %s", got, tt.want)
			}
			if !strings.HasPrefix(u.Path, "/") {
				t.Fatalf("path %q is not absolute; the request line would be malformed", u.Path)
			}
		})
	}
}

func TestServer(t *testing.T) {
	tests := []struct {
		name, base, host string
		port             int
	}{
		{"https default port", "https://contoso.openai.azure.com", "contoso.openai.azure.com", 443},
		{"http default port", "http://vllm/v1", "vllm", 80},
		{"explicit port", "http://10.0.0.7:8000/v1", "10.0.0.7", 8000},
		{"ipv6", "https://[fd00::7]:8443", "fd00::7", 8443},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := New(Options{Name: "u", Type: TypeOpenAICompatible, BaseURL: tt.base})
			if err != nil {
				t.Fatal(err)
			}
			if host, port := tg.Server(); host != tt.host || port != tt.port {
				t.Fatalf("Server() = %s, %d; want %s, %d", host, port, tt.host, tt.port)
			}
		})
	}
}

func TestRewriteBodyAndStreamUsage(t *testing.T) {
	az, _ := New(Options{Name: "a", Type: TypeAzure, BaseURL: "https://x", APIVersion: "2024-10-21", StreamUsage: true})
	oa, _ := New(Options{Name: "o", Type: TypeOpenAICompatible, BaseURL: "http://y/v1", StreamUsage: true})
	body := []byte(`{"model":"client-name","messages":[],"temperature":0.5}`)

	got, _, err := az.Body(Call{Operation: op("chat"), Deployment: "prod", APIVersion: "2024-10-21"}, body)
	if err != nil || string(got) != string(body) {
		t.Fatalf("azure legacy body changed: %s %v", got, err)
	}
	got, _, err = oa.Body(Call{Operation: op("chat"), Deployment: "llama"}, body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(got, &m)
	if m["model"] != "llama" || m["temperature"] != 0.5 {
		t.Fatalf("rewritten %s", got)
	}
	tests := []struct {
		name string
		t    *Target
		call Call
		want bool
	}{
		{"azure GA with usage", az, Call{Operation: op("chat"), Deployment: "d", APIVersion: "2024-10-21"}, true},
		{"azure old GA", az, Call{Operation: op("chat"), Deployment: "d", APIVersion: "2024-06-01"}, false},
		{"azure 2024-09-01-preview", az, Call{Operation: op("chat"), Deployment: "d", APIVersion: "2024-09-01-preview"}, true},
		{"azure 2024-08-01-preview", az, Call{Operation: op("chat"), Deployment: "d", APIVersion: "2024-08-01-preview"}, false},
		{"azure from v1 uses its version", az, Call{Operation: op("chat"), Deployment: "d"}, true},
		{"azure responses", az, Call{Operation: op("responses"), Deployment: "d"}, false},
		{"compatible chat", oa, Call{Operation: op("chat"), Deployment: "d"}, true},
		{"compatible embeddings", oa, Call{Operation: op("embeddings"), Deployment: "d"}, false},
	}
	stream := []byte(`{"messages":[],"stream":true}`)
	for _, tt := range tests {
		c := tt.call
		c.Stream = true
		out, injected, err := tt.t.Body(c, stream)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if injected != tt.want || strings.Contains(string(out), "include_usage") != tt.want {
			t.Errorf("%s: injected %v, body %s", tt.name, injected, out)
		}
		c.ClientUsage = true
		if _, injected, _ := tt.t.Body(c, stream); injected {
			t.Errorf("%s: injected although the client asked for usage itself", tt.name)
		}
	}
}

func TestAuthorizeReplacesClientCredentials(t *testing.T) {
	tg, _ := New(Options{Name: "a", Type: TypeOpenAI, BaseURL: "https://x/v1", Auth: BearerKey("up")})
	r, _ := http.NewRequest("POST", "https://x/v1/chat/completions", nil)
	r.Header.Set("Api-Key", "client")
	r.Header.Set("Authorization", "Bearer client")
	r.Header.Set("X-Api-Key", "client")
	if err := tg.Authorize(context.Background(), r, Call{Operation: op("chat")}); err != nil {
		t.Fatal(err)
	}
	if r.Header.Get("Api-Key") != "" || r.Header.Get("X-Api-Key") != "" || r.Header.Get("Authorization") != "Bearer up" {
		t.Fatalf("headers %v", r.Header)
	}
}

// countingCredential is a TokenCredential issuing numbered tokens that
// expire an hour after the test clock's now.
type countingCredential struct {
	now   func() time.Time
	calls atomic.Int32
	fail  atomic.Bool
	block chan struct{}
}

func (c *countingCredential) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	n := c.calls.Add(1)
	if c.block != nil {
		<-c.block
	}
	if c.fail.Load() {
		return azcore.AccessToken{}, errors.New("identity endpoint unreachable")
	}
	return azcore.AccessToken{Token: "tok-" + string(rune('0'+n)), ExpiresOn: c.now().Add(time.Hour)}, nil
}

func TestTokenAuthCachesAndRefreshes(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cred := &countingCredential{now: clock}
	a := NewTokenAuth(cred, "scope", clock)
	ctx := context.Background()

	for range 5 {
		if tok, err := a.Token(ctx); err != nil || tok != "tok-1" {
			t.Fatalf("%s %v", tok, err)
		}
	}
	if cred.calls.Load() != 1 {
		t.Fatalf("%d token requests for 5 calls", cred.calls.Load())
	}
	now = now.Add(56 * time.Minute) // within 5 minutes of expiry: refresh
	if tok, _ := a.Token(ctx); tok != "tok-2" {
		t.Fatalf("not refreshed: %s", tok)
	}
	now = now.Add(2 * time.Hour)
	cred.fail.Store(true)
	if _, err := a.Token(ctx); err == nil {
		t.Fatal("expired token served after a failed refresh")
	}
}

func TestTokenAuthSingleFlight(t *testing.T) {
	now := time.Now()
	cred := &countingCredential{now: func() time.Time { return now }, block: make(chan struct{})}
	a := NewTokenAuth(cred, "scope", func() time.Time { return now })
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.Token(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	for cred.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(cred.block)
	wg.Wait()
	if n := cred.calls.Load(); n != 1 {
		t.Fatalf("%d concurrent token requests, want 1", n)
	}
}
