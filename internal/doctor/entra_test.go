package doctor

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/doctor/doctortest"
	"github.com/moat-gw/moat/internal/idp"
)

// TestManagedIdentityToken: with the default Credential, doctor gets a
// token through azidentity's managed-identity protocol (from the local
// issuer, as the App Service endpoint would hand it out) and the upstream
// accepts it; without a reachable identity endpoint it says it cannot.
func TestManagedIdentityToken(t *testing.T) {
	iss, err := idp.New(idp.Options{TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", IdentityHeader: "doctor-msi-secret",
		Identities: []idp.Identity{{Name: "vm", ClientID: "6b1a8f2e-0000-4000-8000-000000000001", ObjectID: "0f9e8d7c-0000-4000-8000-000000000002", Managed: true}}})
	if err != nil {
		t.Fatal(err)
	}
	idpSrv := httptest.NewServer(iss.Handler())
	defer idpSrv.Close()
	for _, k := range []string{"AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE",
		"IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("IDENTITY_HEADER", "doctor-msi-secret")

	ca := doctortest.NewCA(t, "Contoso Test Root")
	up := httptest.NewUnstartedServer(fakeAzure{acceptJWT: true})
	up.TLS = tlsConfig(ca.Issue(t, []string{"127.0.0.1"}, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour)))
	up.StartTLS()
	defer up.Close()

	tests := []struct {
		name, endpoint, scope, wantStatus, wantCode string
	}{
		{"token obtained and accepted", idpSrv.URL + idp.MSIPath, config.DefaultScope, "ok", ""},
		// MSAL keeps managed-identity tokens in a process-wide cache keyed
		// by resource, so the refusal asks for another one.
		{"identity endpoint refuses", idpSrv.URL + "/nowhere", "api://doctor-refused/.default", "fail", "no_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("IDENTITY_ENDPOINT", tt.endpoint)
			cfg := &config.Config{
				Upstreams: []config.Upstream{{Name: "aoai", Type: "azure", Endpoint: up.URL, Auth: "managed_identity",
					APIVersion: "2024-10-21", Scope: tt.scope, CAFile: ca.File}},
				Deployments: []config.Deployment{{Name: "gpt", Upstreams: []config.DeploymentUpstream{{Upstream: "aoai", Deployment: deployment}}}},
			}
			rep := Run(context.Background(), cfg, Options{Timeout: 5 * time.Second})
			c, ok := rep.Find("upstream aoai", "credential")
			if !ok || string(c.Status) != tt.wantStatus || c.Code != tt.wantCode {
				var b strings.Builder
				_ = rep.WriteTable(&b)
				t.Fatalf("credential %+v, want %s %s\n%s", c, tt.wantStatus, tt.wantCode, b.String())
			}
			if tt.wantStatus == "ok" && !strings.Contains(c.Detail, "token obtained for "+config.DefaultScope) {
				t.Errorf("detail %q", c.Detail)
			}
		})
	}
}
