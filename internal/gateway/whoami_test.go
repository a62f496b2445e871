package gateway

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/dataplane"
)

// TestWhoami: the caller learns how moat sees it only once the network and
// authentication stages admit it; a refused caller gets Azure's answers.
func TestWhoami(t *testing.T) {
	const key = "whoami-test-key-0123456789abcdef0123"
	ts := startServer(t, `
listeners:
  - {name: pub, address: '127.0.0.1:0', kind: public}
  - {name: pe, address: '127.0.0.1:0', kind: private_endpoint}
  - {name: fenced, address: '127.0.0.1:0', kind: private_endpoint, allowed_sources: [10.0.0.0/8]}
management:
  listeners: [{name: mgmt, address: '127.0.0.1:0', kind: private_endpoint}]
network: {public_network_access: selected, ip_rules: [127.0.0.0/8]}
auth:
  keys: [{name: app, key: `+key+`, deployments: [gpt-4o-mini]}]
`)
	tests := []struct {
		name, listener, query, key string
		wantStatus                 int
		wantBody                   string // substring
		want                       dataplane.Whoami
	}{
		{"firewall refuses before anything", "fenced", "", key, 403, "Virtual Network/Firewall rules", dataplane.Whoami{}},
		{"no key is Azure's 401", "pe", "", "", 401, "invalid subscription key", dataplane.Whoami{}},
		{"private endpoint", "pe", "", key, 200, "", dataplane.Whoami{Client: "127.0.0.1", Listener: "pe", ListenerKind: "private_endpoint",
			AdmittedBy: "private_endpoint", Principal: "app", AuthType: "key"}},
		{"ip rule names its prefix", "pub", "", key, 200, "", dataplane.Whoami{Client: "127.0.0.1", Listener: "pub", ListenerKind: "public",
			AdmittedBy: "ip_rule", Rule: "127.0.0.0/8", Principal: "app", AuthType: "key"}},
		{"a deployment the key may call", "pe", "?deployment=gpt-4o-mini", key, 200, "", dataplane.Whoami{Client: "127.0.0.1", Listener: "pe",
			ListenerKind: "private_endpoint", AdmittedBy: "private_endpoint", Principal: "app", AuthType: "key",
			Deployment: &dataplane.WhoamiDeployment{Name: "gpt-4o-mini", Allowed: true, Exists: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := []string{}
			if tt.key != "" {
				hdr = []string{"api-key", tt.key}
			}
			status, _, body := do(t, "GET", "http://"+ts.Addr(tt.listener)+dataplane.WhoamiPath+tt.query, "", hdr...)
			if status != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("%d %s", status, body)
			}
			if status != 200 {
				if strings.Contains(body, "127.0.0.1") {
					t.Fatalf("a refused caller learned its address: %s", body)
				}
				return
			}
			var got dataplane.Whoami
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if got.Deployment != nil {
				got.Deployment.Error = nil
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tt.want)
			if string(gj) != string(wj) {
				t.Fatalf("got  %s\nwant %s", gj, wj)
			}
		})
	}
	t.Run("a deployment outside the key's scope", func(t *testing.T) {
		status, _, body := do(t, "GET", "http://"+ts.Addr("pe")+dataplane.WhoamiPath+"?deployment=gpt-4o", "", "api-key", key)
		var got dataplane.Whoami
		if status != 200 || json.Unmarshal([]byte(body), &got) != nil || got.Deployment == nil {
			t.Fatalf("%d %s", status, body)
		}
		if d := got.Deployment; d.Allowed || d.Exists || d.Status == 0 || len(d.Error) == 0 {
			t.Fatalf("deployment %+v: want refused with the call's error and no word on existence", d)
		}
	})
}
