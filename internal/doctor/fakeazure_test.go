package doctor

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/moat-gw/moat/internal/openai"
)

// Azure's front-door bodies, byte for byte (wire reference §2).
const (
	bodyPublicDisabled = `{"error":{"code":"403","message": "` + openai.MsgPublicDisabled + `"}}`
	bodyFirewall       = `{"error":{"code":"403","message": "` + openai.MsgFirewallDenied + `"}}`
	bodyInvalidKey     = `{"error":{"code":"401","message":"` + openai.MsgInvalidKey + `"}}`
	bodyTokenInvalid   = `{"statusCode": 401, "message": "` + openai.MsgTokenInvalid + `"}`
	bodyNoRole         = "{\"error\":{\"code\":\"PermissionDenied\",\"message\":\"The principal `11111111-2222-3333-4444-555555555555` lacks the required data action `Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action` to perform `POST /openai/deployments/{deployment-id}/chat/completions` operation.\"}}"
	bodyNoDeployment   = `{"error":{"code":"DeploymentNotFound","message":"` + openai.MsgDeploymentNotFound + `"}}`
	bodyEmptyMessages  = `{"error":{"message":"[] is too short - 'messages'","type":"invalid_request_error","param":null,"code":null}}`
)

// Credentials the fake accepts.
const (
	goodKey    = "fake-azure-key-0123456789abcdef0123456789"
	roleToken  = "token-with-role"
	noRoleTok  = "token-without-role"
	deployment = "gpt-4o-mini-prod"
)

// fakeAzure answers like an Azure OpenAI resource's front door, in Azure's
// order: network (deny says why), credential, role, deployment, then the
// model refusing the empty probe body with 400.
type fakeAzure struct {
	deny string // "", "public" or "firewall"
	// acceptJWT admits any bearer token shaped like a JWT, for tokens
	// minted by the local issuer.
	acceptJWT bool
}

func (f fakeAzure) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Apim-Request-Id", "00000000-0000-0000-0000-000000000001")
	answer := func(status int, body string) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	}
	switch f.deny {
	case "public":
		w.Header().Set("Policy-Id", "ThrowExceptionDueToTrafficDenied")
		answer(403, bodyPublicDisabled)
		return
	case "firewall":
		w.Header().Set("Policy-Id", "ThrowExceptionDueToTrafficDenied")
		answer(403, bodyFirewall)
		return
	}
	bearer := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case r.Header.Get("Api-Key") == goodKey, bearer == roleToken, f.acceptJWT && strings.Count(bearer, ".") == 2:
	case bearer == noRoleTok:
		answer(401, bodyNoRole)
		return
	case bearer != "":
		answer(401, bodyTokenInvalid)
		return
	default:
		answer(401, bodyInvalidKey)
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		answer(404, `{"error":{"code":"404","message": "Resource not found"}}`)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/openai/models":
		answer(200, `{"data":[],"object":"list"}`)
	case r.Method == http.MethodPost && r.URL.Path == "/openai/deployments/"+deployment+"/chat/completions":
		answer(400, bodyEmptyMessages)
	case strings.HasPrefix(r.URL.Path, "/openai/deployments/"):
		answer(404, bodyNoDeployment)
	default:
		answer(404, `{"error":{"code":"404","message": "Resource not found"}}`)
	}
}

// serveTLS runs h with cert on addr until the test ends.
func serveTLS(t *testing.T, addr string, cert tls.Certificate, h http.Handler) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
}

// staticToken is an Entra credential that always returns tok, standing in
// for a managed identity endpoint.
type staticToken struct {
	tok string
	err error
}

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: s.tok, ExpiresOn: time.Now().Add(time.Hour)}, s.err
}

func tlsConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

// fakeVLLM answers like an OpenAI-compatible server (vLLM) serving one
// model, "llama", behind a Bearer key.
type fakeVLLM struct{}

func (fakeVLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer "+goodKey {
		w.WriteHeader(401)
		w.Write([]byte(`{"error":"Unauthorized"}`))
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		w.Write([]byte(`{"object":"list","data":[{"id":"llama","object":"model"}]}`))
	case r.Method == http.MethodPost && r.URL.Path == "/v1/chat/completions":
		var body struct{ Model string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body.Model != "llama" {
			w.WriteHeader(404)
			fmt.Fprintf(w, `{"object":"error","message":"The model %s does not exist.","type":"NotFoundError","param":null,"code":404}`, body.Model)
			return
		}
		w.WriteHeader(400)
		w.Write([]byte(`{"object":"error","message":"messages must not be empty","type":"BadRequestError","param":null,"code":400}`))
	default:
		http.NotFound(w, r)
	}
}

// serveHTTP runs h in plain HTTP on addr until the test ends.
func serveHTTP(t *testing.T, addr string, h http.Handler) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
}
