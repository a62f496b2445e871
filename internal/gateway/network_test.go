package gateway

import (
	"strings"
	"testing"
)

const (
	bodyPublicDisabled = `{"error":{"code":"403","message": "Public access is disabled. Please configure private endpoint."}}`
	bodyFirewall       = `{"error":{"code":"403","message": "Access denied due to Virtual Network/Firewall rules."}}`
)

// TestNetworkModes runs each public network access mode against a public and
// a private-endpoint listener, from 127.0.0.1 and (through a trusted proxy)
// from a forwarded address. The netns suite does the same across real hosts.
func TestNetworkModes(t *testing.T) {
	listeners := `
listeners:
  - {name: pub, address: '127.0.0.1:0', kind: public}
  - {name: pe, address: '127.0.0.1:0', kind: private_endpoint}
management:
  listeners: [{name: mgmt, address: '127.0.0.1:0', kind: private_endpoint}]
`
	type call struct {
		listener string
		xff      string
		want     int
		body     string
	}
	tests := []struct {
		name    string
		network string
		calls   []call
	}{
		{"enabled", "network: {public_network_access: enabled}", []call{
			{"pub", "", 200, ""}, {"pe", "", 200, ""},
		}},
		{"disabled", "network: {public_network_access: disabled}", []call{
			{"pub", "", 403, bodyPublicDisabled}, {"pe", "", 200, ""},
		}},
		{"selected without a matching rule", "network: {public_network_access: selected, ip_rules: [10.0.0.0/8]}", []call{
			{"pub", "", 403, bodyFirewall}, {"pe", "", 200, ""},
		}},
		{"selected with an ip rule", "network: {public_network_access: selected, ip_rules: [127.0.0.0/8]}", []call{
			{"pub", "", 200, ""},
		}},
		{"selected with a vnet rule", "network: {public_network_access: selected, virtual_network_rules: [{name: snet-app, prefix: 127.0.0.0/24}]}", []call{
			{"pub", "", 200, ""},
		}},
		{"spoofed forwarding from an untrusted peer changes nothing", "network: {public_network_access: selected, ip_rules: [203.0.113.0/24]}", []call{
			{"pub", "203.0.113.9", 403, bodyFirewall},
		}},
		{"forwarding from a trusted proxy is believed", "network: {public_network_access: selected, ip_rules: [203.0.113.0/24], trusted_proxies: [127.0.0.1]}", []call{
			{"pub", "203.0.113.9", 200, ""}, {"pub", "198.51.100.1", 403, bodyFirewall},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, listeners+tt.network)
			for _, c := range tt.calls {
				url := "http://" + ts.Addr(c.listener) + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
				hdr := []string{"api-key", "k"}
				if c.xff != "" {
					hdr = append(hdr, "X-Forwarded-For", c.xff)
				}
				status, h, body := do(t, "POST", url, chatBody, hdr...)
				if status != c.want || (c.body != "" && body != c.body) {
					t.Fatalf("%s xff=%q: %d %s", c.listener, c.xff, status, body)
				}
				if status == 403 && h.Get("policy-id") != "ThrowExceptionDueToTrafficDenied" {
					t.Fatalf("policy-id %q", h.Get("policy-id"))
				}
				if status == 403 {
					// Probes are denied the same way.
					if st, _, _ := do(t, "GET", "http://"+ts.Addr(c.listener)+"/healthz", ""); st != 403 {
						t.Fatalf("healthz on a denied listener = %d", st)
					}
				}
			}
			recs := ts.records()
			for i, r := range recs {
				c := tt.calls[i]
				if r.Status != c.want {
					t.Fatalf("record %d status %d", i, r.Status)
				}
				if c.want == 403 && (r.ErrorKind != "policy_network" || !strings.Contains(r.ErrorMessage, "denied_")) {
					t.Fatalf("denial not logged with its rule: %+v", r)
				}
				if c.xff == "203.0.113.9" && c.want == 200 && r.ClientIP != "203.0.113.9" {
					t.Fatalf("client ip %s", r.ClientIP)
				}
			}
		})
	}
}

// TestManagementNetworkRules: the management plane obeys allowed_sources.
func TestManagementNetworkRules(t *testing.T) {
	ts := startServer(t, `
listeners: [{name: data, address: '127.0.0.1:0'}]
management:
  listeners: [{name: mgmt, address: '127.0.0.1:0', kind: private_endpoint, allowed_sources: [10.20.0.0/16]}]
`)
	status, h, body := do(t, "GET", ts.mgmtURL+"/metrics", "")
	if status != 403 || body != bodyFirewall || h.Get("policy-id") == "" {
		t.Fatalf("%d %s", status, body)
	}
}

// TestManagementPublicRefused: a public management listener needs allow_public.
func TestManagementPublicRefused(t *testing.T) {
	_, err := parseForTest(`management: {listeners: [{name: m, address: '0.0.0.0:9090', kind: public}]}`)
	if err == nil || !strings.Contains(err.Error(), "allow_public") {
		t.Fatalf("err = %v", err)
	}
	if _, err := parseForTest(`management: {allow_public: true, listeners: [{name: m, address: '0.0.0.0:9090', kind: public}]}`); err != nil {
		t.Fatal(err)
	}
}
