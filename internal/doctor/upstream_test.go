package doctor

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/doctor/doctortest"
	"github.com/moat-gw/moat/internal/upstream"
)

// Addresses on the namespace's loopback: private endpoints of fake Azure
// resources, a public front end, moat's own listener and an address where
// nothing listens.
const (
	addrPE        = "10.231.50.4"
	addrNothing   = "10.231.50.5"
	addrExpired   = "10.231.50.6"
	addrUntrusted = "10.231.50.7"
	addrFirewall  = "10.231.50.8"
	addrMoat      = "10.231.50.9"
	addrMoat2     = "10.231.50.10"
	addrPublic    = "203.0.113.10"
)

// zone is what the test's DNS server answers, as Azure's public DNS and a
// VNet-linked privatelink zone would: the public name CNAMEs into the
// privatelink zone, which answers the private endpoint's address here and
// the public front end for "public".
var zone = []string{
	"contoso.openai.azure.com. 60 IN CNAME contoso.privatelink.openai.azure.com.",
	"contoso.privatelink.openai.azure.com. 60 IN A " + addrPE,
	"public.openai.azure.com. 60 IN CNAME public.privatelink.openai.azure.com.",
	"public.privatelink.openai.azure.com. 60 IN CNAME fe.japaneast.example.net.",
	"fe.japaneast.example.net. 60 IN A " + addrPublic,
	"self.openai.azure.com. 60 IN A " + addrMoat,
	"refused.openai.azure.com. 60 IN A " + addrNothing,
	"firewalled.openai.azure.com. 60 IN A " + addrFirewall,
	"expired.openai.azure.com. 60 IN A " + addrExpired,
	"untrusted.openai.azure.com. 60 IN A " + addrUntrusted,
	"loop.openai.azure.com. 60 IN CNAME loop.privatelink.openai.azure.com.",
	"loop.privatelink.openai.azure.com. 60 IN CNAME loop.openai.azure.com.",
	"moat.contoso.internal. 60 IN A " + addrMoat,
	"vllm.contoso.internal. 60 IN A " + addrPE,
	"stale.contoso.internal. 60 IN A " + addrNothing,
	"wrong.contoso.internal. 60 IN A 10.231.50.77",
	"unroutable.openai.azure.com. 60 IN A 10.231.60.4",
	"dropped.openai.azure.com. 60 IN A 10.231.70.4",
}

// TestUpstreamDiagnoses runs moat doctor against real DNS, TCP and TLS in
// a network namespace and checks each failure is diagnosed with its cause.
func TestUpstreamDiagnoses(t *testing.T) {
	if !doctortest.InNetns(t, addrPE+"/32", addrNothing+"/32", addrExpired+"/32", addrUntrusted+"/32",
		addrFirewall+"/32", addrMoat+"/32", addrMoat2+"/32", addrPublic+"/32") {
		return
	}
	doctortest.RunCmd(t, "ip", "route", "add", "unreachable", "10.231.60.0/24")
	// A black hole: 10.231.70.0/24 goes out of a veth whose peer has no
	// such address, to a fixed MAC, so a SYN is never answered.
	doctortest.RunCmd(t, "ip", "link", "add", "mdoca", "type", "veth", "peer", "name", "mdocb")
	doctortest.RunCmd(t, "ip", "link", "set", "mdoca", "up")
	doctortest.RunCmd(t, "ip", "link", "set", "mdocb", "up")
	doctortest.RunCmd(t, "ip", "route", "add", "10.231.70.0/24", "dev", "mdoca")
	doctortest.RunCmd(t, "ip", "neigh", "add", "10.231.70.4", "lladdr", "02:00:00:00:00:01", "dev", "mdoca")
	dnsAddr := doctortest.StartDNS(t, "127.0.0.1:0", zone)
	ca := doctortest.NewCA(t, "Contoso Test Root")
	other := doctortest.NewCA(t, "Somebody Else's Root")
	now := time.Now()
	azureCert := ca.Issue(t, []string{"*.openai.azure.com"}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	serveTLS(t, addrPE+":443", azureCert, fakeAzure{})
	serveTLS(t, addrPublic+":443", azureCert, fakeAzure{deny: "public"})
	serveHTTP(t, addrPE+":8000", fakeVLLM{})
	serveTLS(t, addrFirewall+":443", azureCert, fakeAzure{deny: "firewall"})
	serveTLS(t, addrExpired+":443", ca.Issue(t, []string{"*.openai.azure.com"}, now.Add(-400*24*time.Hour), now.Add(-2*24*time.Hour)), fakeAzure{})
	serveTLS(t, addrUntrusted+":443", other.Issue(t, []string{"*.openai.azure.com"}, now.Add(-time.Hour), now.Add(90*24*time.Hour)), fakeAzure{})

	azure := func(host string) config.Upstream {
		return config.Upstream{Name: "aoai", Type: "azure", Endpoint: "https://" + host, Auth: "api_key",
			APIKey: config.NewSecret(goodKey), APIVersion: "2024-10-21", Scope: config.DefaultScope, CAFile: ca.File}
	}
	token := func(tok string, err error) func(config.Upstream) (upstream.Authenticator, error) {
		return func(config.Upstream) (upstream.Authenticator, error) {
			return upstream.NewTokenAuth(staticToken{tok, err}, config.DefaultScope, nil), nil
		}
	}
	type want struct{ check, status, code, cause string }
	tests := []struct {
		name     string
		up       func(u *config.Upstream)
		host     string
		cred     func(config.Upstream) (upstream.Authenticator, error)
		dep      string
		listen   string // moat's listener address; default addrMoat:443
		timeout  time.Duration
		wantFail bool
		want     []want
	}{
		{name: "privatelink CNAME to the private endpoint", host: "contoso.openai.azure.com",
			want: []want{{"dns", "ok", "private", "through the privatelink zone"}, {"self-loop", "ok", "", ""}, {"tcp", "ok", "", ""},
				{"tls", "ok", "", ""}, {"credential", "ok", "", "api_key accepted"}, {"deployment gpt", "ok", "reached", ""}}},
		{name: "public answer while public access is disabled", host: "public.openai.azure.com", wantFail: true,
			want: []want{{"dns", "warn", "privatelink_public", "answers with a public address"}, {"credential", "skip", "", "network refused"},
				{"deployment gpt", "fail", "public_access_disabled", "DNS led moat to " + addrPublic}}},
		{name: "name resolves to moat itself", host: "self.openai.azure.com", wantFail: true,
			want: []want{{"self-loop", "fail", "self_loop", "forward every call to itself"}}},
		{name: "moat listens on every address", host: "self.openai.azure.com", listen: "0.0.0.0:443", wantFail: true,
			want: []want{{"self-loop", "fail", "self_loop", "moat's own listener \"pe\""}}},
		{name: "connect_address is moat itself", host: "contoso.openai.azure.com", wantFail: true,
			up:   func(u *config.Upstream) { u.ConnectAddress = addrMoat + ":443" },
			want: []want{{"self-loop", "fail", "self_loop", ""}}},
		{name: "OpenAI-compatible server over plain HTTP", host: "vllm.contoso.internal", dep: "llama",
			up: func(u *config.Upstream) {
				u.Type, u.Endpoint, u.BaseURL, u.Auth = "openai_compatible", "", "http://vllm.contoso.internal:8000/v1", ""
			},
			want: []want{{"dns", "ok", "private", ""}, {"tcp", "ok", "", ""}, {"credential", "ok", "", ""}, {"deployment gpt", "ok", "reached", ""}}},
		{name: "OpenAI-compatible server without the model", host: "vllm.contoso.internal", dep: "mistral", wantFail: true,
			up: func(u *config.Upstream) {
				u.Type, u.Endpoint, u.BaseURL, u.Auth = "openai_compatible", "", "http://vllm.contoso.internal:8000/v1", ""
			},
			want: []want{{"deployment gpt", "fail", "model_not_found", "does not serve model mistral"}}},
		{name: "nothing listens", host: "refused.openai.azure.com", wantFail: true,
			want: []want{{"tcp", "fail", "tcp_refused", "nothing listens"}}},
		{name: "packets dropped", host: "dropped.openai.azure.com", timeout: 300 * time.Millisecond, wantFail: true,
			want: []want{{"tcp", "fail", "tcp_timeout", "drops the packets"}}},
		{name: "no route", host: "unroutable.openai.azure.com", wantFail: true,
			want: []want{{"tcp", "fail", "tcp_unreachable", "no route"}}},
		{name: "dialing the privatelink name fails TLS", host: "contoso.privatelink.openai.azure.com", wantFail: true,
			want: []want{{"dns", "ok", "private", ""}, {"tls", "fail", "tls_privatelink_name", "certificate is for the public name"}}},
		{name: "expired certificate", host: "expired.openai.azure.com", wantFail: true,
			want: []want{{"tls", "fail", "tls_expired", "expired on"}}},
		{name: "untrusted CA", host: "untrusted.openai.azure.com", wantFail: true,
			want: []want{{"tls", "fail", "tls_untrusted", "Somebody Else's Root"}}},
		{name: "resource firewall", host: "firewalled.openai.azure.com", wantFail: true,
			want: []want{{"deployment gpt", "fail", "firewall", "firewall"}}},
		{name: "token without a role", host: "contoso.openai.azure.com", cred: token(noRoleTok, nil), wantFail: true,
			up: func(u *config.Upstream) { u.Auth, u.APIKey = "managed_identity", config.Secret{} },
			want: []want{{"credential", "fail", "missing_role", "principal 11111111-2222-3333-4444-555555555555"},
				{"deployment gpt", "fail", "missing_role", "no role"}}},
		{name: "managed identity with a role", host: "contoso.openai.azure.com", cred: token(roleToken, nil),
			up:   func(u *config.Upstream) { u.Auth, u.APIKey = "managed_identity", config.Secret{} },
			want: []want{{"credential", "ok", "", "managed_identity accepted"}, {"deployment gpt", "ok", "reached", ""}}},
		{name: "no token", host: "contoso.openai.azure.com", cred: token("", errors.New("no managed identity endpoint")), wantFail: true,
			up:   func(u *config.Upstream) { u.Auth, u.APIKey = "managed_identity", config.Secret{} },
			want: []want{{"credential", "fail", "no_token", "cannot obtain an Entra token"}}},
		{name: "bad api-key", host: "contoso.openai.azure.com", wantFail: true,
			up:   func(u *config.Upstream) { u.APIKey = config.NewSecret("not-the-key-0123456789abcdef0123456") },
			want: []want{{"credential", "fail", "bad_api_key", "api-key was refused"}, {"deployment gpt", "fail", "bad_api_key", ""}}},
		{name: "deployment missing on the resource", host: "contoso.openai.azure.com", dep: "gpt-5-nano", wantFail: true,
			want: []want{{"deployment gpt", "fail", "deployment_not_found", "no deployment named gpt-5-nano"}}},
		{name: "CNAME loop", host: "loop.openai.azure.com", wantFail: true,
			want: []want{{"dns", "fail", "dns_loop", "loops"}}},
		{name: "connect_address reaches the private endpoint without DNS", host: "pe-only.openai.azure.com",
			up: func(u *config.Upstream) { u.ConnectAddress = addrPE + ":443" },
			want: []want{{"dns", "ok", "", "not used to dial"}, {"tcp", "ok", "", ""}, {"tls", "ok", "", ""},
				{"deployment gpt", "ok", "reached", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := azure(tt.host)
			if tt.up != nil {
				tt.up(&u)
			}
			remote := deployment
			if tt.dep != "" {
				remote = tt.dep
			}
			cfg := &config.Config{
				Listeners: []config.Listener{{Name: "pe", Address: cmp.Or(tt.listen, addrMoat+":443"), Kind: "private_endpoint"}},
				Upstreams: []config.Upstream{u},
				Deployments: []config.Deployment{{Name: "gpt", Upstreams: []config.DeploymentUpstream{
					{Upstream: "aoai", Deployment: remote}}}},
			}
			rep := Run(context.Background(), cfg, Options{Resolver: &Resolver{Server: dnsAddr}, Timeout: cmp.Or(tt.timeout, 5*time.Second), Credential: tt.cred})
			var table strings.Builder
			_ = rep.WriteTable(&table)
			t.Log("\n" + table.String())
			if rep.Failed() != tt.wantFail {
				t.Errorf("failed = %v, want %v", rep.Failed(), tt.wantFail)
			}
			for _, w := range tt.want {
				c, ok := rep.Find("upstream aoai", w.check)
				if !ok {
					t.Errorf("no %s check", w.check)
					continue
				}
				if string(c.Status) != w.status || (w.code != "" && c.Code != w.code) || !strings.Contains(c.Cause+" "+c.Detail, w.cause) {
					t.Errorf("%s: %s %s %q / %q; want %s %s mentioning %q", w.check, c.Status, c.Code, c.Cause, c.Detail, w.status, w.code, w.cause)
				}
			}
		})
	}
}
