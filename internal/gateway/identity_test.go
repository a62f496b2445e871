package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	"github.com/openai/openai-go/v3/option"

	"github.com/moat-gw/moat/internal/idp"
	"github.com/moat-gw/moat/internal/proctest"
)

const (
	key1       = "0123456789abcdef0123456789abcdef"
	scopedKey  = "scoped-key-scoped-key-scoped-key-0001"
	bodyBadKey = `{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}`
)

func TestKeys(t *testing.T) {
	ts := startServer(t, fmt.Sprintf(`
auth:
  keys:
    - {name: key1, key: %s}
    - {name: app-a, key: %s, deployments: [gpt-4o-mini], operations: [chat]}
`, key1, scopedKey))
	legacy := func(dep, op string) string {
		return ts.url + "/openai/deployments/" + dep + "/" + op + "?api-version=2024-10-21"
	}
	tests := []struct {
		name     string
		url      string
		body     string
		hdr      []string
		want     int
		wantBody string
		contains string
	}{
		{"no credential", legacy("gpt-4o-mini", "chat/completions"), chatBody, nil, 401, bodyBadKey, ""},
		{"wrong key", legacy("gpt-4o-mini", "chat/completions"), chatBody, []string{"api-key", strings.Repeat("x", 32)}, 401, bodyBadKey, ""},
		{"key1", legacy("gpt-4o", "chat/completions"), chatBody, []string{"api-key", key1}, 200, "", ""},
		{"key1 as bearer on v1", ts.url + "/openai/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, []string{"Authorization", "Bearer " + key1}, 200, "", ""},
		{"key as bearer on the legacy surface is not a token", legacy("gpt-4o", "chat/completions"), chatBody, []string{"Authorization", "Bearer " + key1}, 401,
			`{"statusCode": 401, "message": "Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired."}`, ""},
		{"scoped key on its deployment", legacy("gpt-4o-mini", "chat/completions"), chatBody, []string{"api-key", scopedKey}, 200, "", ""},
		{"scoped key on another deployment", legacy("gpt-4o", "chat/completions"), chatBody, []string{"api-key", scopedKey}, 401, "",
			"lacks the required data action `Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action` to perform `POST /openai/deployments/{deployment-id}/chat/completions` operation."},
		{"scoped key on another operation", legacy("gpt-4o-mini", "embeddings"), `{"input":"x"}`, []string{"api-key", scopedKey}, 401, "", `"code":"PermissionDenied"`},
		{"unauthenticated caller learns nothing about paths", ts.url + "/nothing", "", nil, 401, bodyBadKey, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := do(t, "POST", tt.url, tt.body, tt.hdr...)
			if status != tt.want || (tt.wantBody != "" && body != tt.wantBody) || !strings.Contains(body, tt.contains) {
				t.Fatalf("%d %s", status, body)
			}
		})
	}
	for _, r := range ts.records() {
		for _, secret := range []string{key1, scopedKey} {
			if strings.Contains(fmt.Sprintf("%+v", r), secret) {
				t.Fatal("a key reached the request log")
			}
		}
		if r.Status == 200 && (r.AuthType != "key" || (r.Caller != "key1" && r.Caller != "app-a")) {
			t.Fatalf("caller not logged by key name: %+v", r)
		}
	}
}

func TestDisableLocalAuth(t *testing.T) {
	ts := startServer(t, fmt.Sprintf("auth: {disable_local_auth: true, keys: [{name: key1, key: %s}]}", key1))
	status, _, body := do(t, "POST", ts.url+"/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", chatBody, "api-key", key1)
	want := `{"error":{"code":"AuthenticationTypeDisabled","message": "Key based authentication is disabled for this resource."}}`
	if status != 403 || body != want {
		t.Fatalf("%d %s", status, body)
	}
}

const (
	testTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	vmClient   = "5e29463d-71da-4fe0-8e69-999b57db23b0"
	vmObject   = "1c2b9a10-8a1f-4c5e-9f3e-6e0a1b2c3d4e"
	msiSecret  = "local-identity-header"
)

// startIssuer runs the local token issuer with one VM managed identity and
// points azidentity at it through the App Service managed-identity protocol.
func startIssuer(t *testing.T) string {
	iss, err := idp.New(idp.Options{TenantID: testTenant, IdentityHeader: msiSecret, SystemAssigned: vmClient,
		Identities: []idp.Identity{{Name: "vm", ClientID: vmClient, ObjectID: vmObject, Managed: true}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(iss.Handler())
	t.Cleanup(srv.Close)
	for _, k := range []string{"AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE",
		"IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("IDENTITY_ENDPOINT", srv.URL+idp.MSIPath)
	t.Setenv("IDENTITY_HEADER", msiSecret)
	return srv.URL
}

// TestKeylessManagedIdentity is the seeds' keyless scenario offline: a "VM"
// identity gets a Cognitive Services token from the managed-identity
// endpoint with azidentity and calls moat through openai-go with no API key,
// allowed only on the deployment its role assignment names.
func TestKeylessManagedIdentity(t *testing.T) {
	issuer := startIssuer(t)
	ts := startServer(t, fmt.Sprintf(`
auth:
  issuers:
    - {name: local, tenant_id: %s, discovery_url: '%s/.well-known/openid-configuration'}
  assignments:
    - {role: Cognitive Services OpenAI User, principal: 'object:%s', scope: /deployments/gpt-4o-mini}
`, testTenant, issuer, vmObject))
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := oai.NewClient(azure.WithEndpoint(ts.url, "2024-10-21"), azure.WithTokenCredential(cred),
		azure.WithUnsafeAllowHTTP(), option.WithMaxRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs := []oai.ChatCompletionMessageParamUnion{oai.UserMessage("keyless hello")}

	r, err := client.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: msgs, MaxTokens: oai.Int(8)})
	if err != nil {
		t.Fatalf("assigned deployment: %v", err)
	}
	if r.Choices[0].Message.Content == "" {
		t.Fatal("empty answer")
	}
	_, err = client.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{Model: "gpt-4o", Messages: msgs})
	var apiErr *oai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "PermissionDenied" ||
		!strings.Contains(apiErr.Message, "The principal `"+vmObject+"` lacks the required data action") {
		t.Fatalf("unassigned deployment: %v", err)
	}
	recs := ts.records()
	if recs[0].AuthType != "entra" || recs[0].Caller != vmObject || recs[0].Status != 200 {
		t.Fatalf("record %+v", recs[0])
	}
	if recs[1].Status != 401 || recs[1].ErrorKind == "" {
		t.Fatalf("denial record %+v", recs[1])
	}
}

// TestNodeSDKKeyless runs the keyless flow with the npm openai package.
func TestNodeSDKKeyless(t *testing.T) {
	issuer := startIssuer(t)
	ts := startServer(t, fmt.Sprintf(`
auth:
  issuers: [{name: local, tenant_id: %s, discovery_url: '%s/.well-known/openid-configuration'}]
  assignments: [{role: Cognitive Services OpenAI User, principal: 'object:%s', scope: /deployments/gpt-4o-mini}]
`, testTenant, issuer, vmObject))
	proctest.NodeTest(t, "../..", "keyless.test.mjs", "openai", "MOAT_URL="+ts.url, "MOAT_TEST_OBJECT_ID="+vmObject)
}

// mintToken gets a managed-identity token from the local issuer as a VM would.
func mintToken(t *testing.T, issuer string) string {
	t.Helper()
	status, _, body := do(t, "GET", issuer+idp.MSIPath+"?api-version=2019-08-01&resource=https://cognitiveservices.azure.com", "",
		"X-IDENTITY-HEADER", msiSecret)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &tok); status != 200 || err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", status, body)
	}
	return tok.AccessToken
}
