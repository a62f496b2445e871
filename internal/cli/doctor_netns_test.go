package cli_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/doctor"
	"github.com/moat-gw/moat/internal/doctor/doctortest"
	"github.com/moat-gw/moat/internal/gateway"
)

// TestDoctorClientSubnets runs moat and moat doctor --client in a network
// namespace, the client calling from addresses in different subnets, and
// checks doctor reports the address moat saw and the rule that decided.
func TestDoctorClientSubnets(t *testing.T) {
	const (
		pe, pub                 = "10.231.50.9", "10.231.50.10"
		snetApp, snetBatch, nat = "10.231.1.7", "10.231.8.20", "198.51.100.7"
		key                     = "doctor-subnet-key-0123456789abcdef0123"
	)
	if !doctortest.InNetns(t, pe+"/32", pub+"/32", snetApp+"/32", snetBatch+"/32", nat+"/32") {
		return
	}
	ca := doctortest.NewCA(t, "Contoso Test Root")
	cf, kf := doctortest.WriteFiles(t, ca.Issue(t, []string{"moat.contoso.internal", "pub.contoso.internal"},
		time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour)))
	tls := "tls: {cert_file: " + cf + ", key_file: " + kf + "}"
	cfg, err := config.Parse([]byte(`
data_dir: ` + t.TempDir() + `
listeners:
  - {name: pe, address: '` + pe + `:443', kind: private_endpoint, allowed_sources: [10.231.0.0/16], ` + tls + `}
  - {name: pub, address: '` + pub + `:443', kind: public, ` + tls + `}
management: {listeners: [{name: mgmt, address: '127.0.0.1:0', kind: private_endpoint}]}
network:
  public_network_access: selected
  ip_rules: [198.51.100.0/24]
  virtual_network_rules: [{name: snet-batch, prefix: 10.231.8.0/24}]
auth: {keys: [{name: app, key: ` + key + `}]}
simulator: {time_to_first_token: 1ms}
`))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gateway.New(context.Background(), cfg, gateway.Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	dnsAddr := doctortest.StartDNS(t, "127.0.0.1:0", []string{
		"moat.contoso.internal. 60 IN A " + pe, "pub.contoso.internal. 60 IN A " + pub})
	tests := []struct {
		name, from, url, status, code, detail string
	}{
		{"VNet client on the private endpoint", snetApp, "https://moat.contoso.internal", "ok", "",
			"moat sees this client as 10.231.1.7 on listener pe (private_endpoint), admitted by private_endpoint"},
		{"a virtual network rule on the public listener", snetBatch, "https://pub.contoso.internal", "ok", "",
			"moat sees this client as 10.231.8.20 on listener pub (public), admitted by vnet_rule 10.231.8.0/24 (subnet snet-batch)"},
		{"an IP rule on the public listener", nat, "https://pub.contoso.internal", "ok", "",
			"as 198.51.100.7 on listener pub (public), admitted by ip_rule 198.51.100.0/24"},
		{"no rule on the public listener", snetApp, "https://pub.contoso.internal", "fail", "firewall", "Virtual Network/Firewall rules"},
		{"outside the private endpoint's allowed_sources", nat, "https://moat.contoso.internal", "fail", "firewall", "Virtual Network/Firewall rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := doctor.Client(context.Background(), doctor.ClientOptions{URL: tt.url, APIKey: key, CAFile: ca.File,
				Resolver: &doctor.Resolver{Server: dnsAddr}, Timeout: 5 * time.Second,
				Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(tt.from)}}})
			c, ok := rep.Find("client", "network")
			if !ok || string(c.Status) != tt.status || c.Code != tt.code || !strings.Contains(c.Detail, tt.detail) {
				var b strings.Builder
				_ = rep.WriteTable(&b)
				t.Fatalf("network check %+v\nwant %s %s %q\n%s", c, tt.status, tt.code, tt.detail, b.String())
			}
		})
	}
}
