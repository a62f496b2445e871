package idp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/go-cmp/cmp"
	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/rbac"
)

func managedIdentityEnv(t *testing.T, base string) {
	for _, k := range []string{"AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE",
		"AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_TOKEN_CREDENTIALS",
		"IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("IDENTITY_ENDPOINT", base+MSIPath)
	t.Setenv("IDENTITY_HEADER", header)
}

// TestAzureSDKClients gets tokens with the real azidentity credentials over
// the App Service managed-identity protocol and validates them with moat's
// validator. MSAL caches managed-identity tokens process-wide; the issuer
// mints 2-minute tokens, which MSAL treats as due for refresh, so every
// case really reaches the endpoint (the hit counter proves it).
func TestAzureSDKClients(t *testing.T) {
	iss, err := New(Options{TenantID: tenant, Identities: identities(), IdentityHeader: header, Key: testKey(), TokenLifetime: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	h := iss.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == MSIPath {
			hits.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	base := srv.URL
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mi := func(o *azidentity.ManagedIdentityCredentialOptions) func() (azcore.TokenCredential, error) {
		return func() (azcore.TokenCredential, error) { return azidentity.NewManagedIdentityCredential(o) }
	}
	dac := func() (azcore.TokenCredential, error) { return azidentity.NewDefaultAzureCredential(nil) }
	tests := []struct {
		name                   string
		env                    map[string]string
		credential             func() (azcore.TokenCredential, error)
		wantObject, wantClient string
	}{
		{name: "ManagedIdentityCredential system-assigned", credential: mi(nil), wantObject: sysObject, wantClient: sysClient},
		{name: "ManagedIdentityCredential by client ID", credential: mi(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(userClient)}),
			wantObject: userObject, wantClient: userClient},
		{name: "ManagedIdentityCredential by object ID", credential: mi(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ObjectID(userObject)}),
			wantObject: userObject, wantClient: userClient},
		{name: "ManagedIdentityCredential by resource ID", credential: mi(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ResourceID(userMIRID)}),
			wantObject: userObject, wantClient: userClient},
		{name: "DefaultAzureCredential restricted to managed identity", env: map[string]string{"AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential"},
			credential: dac, wantObject: sysObject, wantClient: sysClient},
		{name: "DefaultAzureCredential full chain", credential: dac, wantObject: sysObject, wantClient: sysClient},
		{name: "DefaultAzureCredential with AZURE_CLIENT_ID", env: map[string]string{"AZURE_CLIENT_ID": userClient},
			credential: dac, wantObject: userObject, wantClient: userClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			managedIdentityEnv(t, base)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cred, err := tt.credential()
			if err != nil {
				t.Fatal(err)
			}
			before := hits.Load()
			tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			if hits.Load() == before {
				t.Error("the credential did not call the managed-identity endpoint (served from a cache?)")
			}
			p, err := validator(t, base, nil).Validate(ctx, tok.Token)
			if err != nil {
				t.Fatalf("moat rejected the SDK's token: %v", err)
			}
			if p.Type != auth.TypeEntra || p.ID != tt.wantObject || p.AppID != tt.wantClient || p.TenantID != tenant || !p.AppOnly {
				t.Errorf("principal = %+v", p)
			}
			if p.DisplayID() != tt.wantObject {
				t.Errorf("DisplayID = %q, want the object ID", p.DisplayID())
			}
			if until := time.Until(tok.ExpiresOn); until < time.Minute || until > 3*time.Minute {
				t.Errorf("token expires in %s, want about 2 minutes", until)
			}
		})
	}
}

// TestEndToEndRBAC: a minted managed-identity token, authenticated by auth
// and authorized by rbac, is denied exactly as Azure denies (§2.4).
func TestEndToEndRBAC(t *testing.T) {
	iss, base := start(t, nil)
	ctx := context.Background()
	tok, _, err := iss.Mint(sysClient, "https://cognitiveservices.azure.com")
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.NewAuthenticator(auth.AuthenticatorOptions{Tokens: validator(t, base, nil)})
	p, err := authn.AuthenticateRequest(ctx, http.Header{"Authorization": {"Bearer " + tok}}, false)
	if err != nil {
		t.Fatal(err)
	}
	authz, err := rbac.New(rbac.Config{Assignments: []rbac.Assignment{
		{Role: rbac.RoleOpenAIUser, Principal: rbac.Selector{Kind: rbac.SelectObject, Value: strings.ToUpper(sysObject)}, Scope: "/deployments/gpt-4o"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	chat, _ := openai.OperationByName("chat")
	if err := authz.Check(p, chat.DataAction, "gpt-4o").Err(rbac.OperationTemplate(chat, false)); err != nil {
		t.Errorf("assigned deployment: %v", err)
	}
	err = authz.Check(p, chat.DataAction, "gpt-4o-mini").Err(rbac.OperationTemplate(chat, false))
	var he *httpx.Error
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Fatalf("other deployment: %v", err)
	}
	want := "{\"error\":{\"code\":\"PermissionDenied\",\"message\":\"The principal `" + sysObject + "` lacks the required data action `Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action` to perform `POST /openai/deployments/{deployment-id}/chat/completions` operation.\"}}"
	if diff := cmp.Diff(want, string(httpx.Render(openai.Errors{}, he))); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}
