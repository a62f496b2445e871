package doctor

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/doctor/doctortest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// recordsConfig has a private endpoint listener (IPv4 and IPv6) and a
// public one serving the same certificate, a listener on every address,
// an upstream reached with connect_address, and one whose name clients
// also call moat by.
func recordsConfig(t *testing.T) *config.Config {
	t.Helper()
	ca := doctortest.NewCA(t, "Contoso Test Root")
	cert := ca.Issue(t, []string{"contoso-aoai.openai.azure.com", "aoai.contoso.internal", "*.contoso.internal"},
		time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	cf, kf := doctortest.WriteFiles(t, cert)
	tls := "tls: {cert_file: " + cf + ", key_file: " + kf + "}"
	y := `
listeners:
  - {name: pe, address: "10.0.3.4:443", kind: private_endpoint, ` + tls + `}
  - {name: pe6, address: "[fd00:3::4]:443", kind: private_endpoint, ` + tls + `}
  - {name: public, address: "10.0.3.5:443", kind: public, ` + tls + `}
  - {name: any, address: "0.0.0.0:8443", kind: private_endpoint}
auth: {keys: [{name: app, key: 'doctor-test-key-0123456789abcdef0123'}]}
upstreams:
  - {name: eus2, type: azure, endpoint: "https://contoso-aoai-eus2.openai.azure.com", auth: managed_identity, connect_address: "10.0.5.4:443"}
  - {name: same, type: azure, endpoint: "https://contoso-aoai.openai.azure.com", auth: managed_identity, connect_address: "10.0.6.4:443"}
deployments:
  - {name: gpt, upstreams: [{upstream: eus2}, {upstream: same}]}
`
	cfg, err := config.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestRecordsGolden(t *testing.T) {
	rs := Records(recordsConfig(t), []string{"gateway.contoso.internal"})
	for _, format := range Formats {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteRecords(&b, rs, format, FormatOptions{}); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "records", format+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Fatalf("%s differs (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestRecordsChoice(t *testing.T) {
	rs := Records(recordsConfig(t), nil)
	var got []string
	for _, r := range rs.Records {
		got = append(got, r.Name+" "+r.Addr.String()+" "+r.For)
	}
	want := []string{
		"contoso-aoai.openai.azure.com 10.0.3.4 listener pe",
		"contoso-aoai.openai.azure.com fd00:3::4 listener pe6",
		"aoai.contoso.internal 10.0.3.4 listener pe",
		"aoai.contoso.internal fd00:3::4 listener pe6",
		"contoso-aoai-eus2.openai.azure.com 10.0.5.4 upstream eus2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	notes := strings.Join(rs.Notes, "\n")
	for _, w := range []string{"listener any binds 0.0.0.0:8443", "wildcard *.contoso.internal", "upstream same: contoso-aoai.openai.azure.com is also a name clients call moat by"} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes do not say %q:\n%s", w, notes)
		}
	}
	if err := WriteRecords(&bytes.Buffer{}, rs, "hosts", FormatOptions{}); err == nil {
		t.Error("an unknown format was accepted")
	}
}

// TestRecordsCheck: doctor resolves each listener name and compares it
// with the listener's address.
func TestRecordsCheck(t *testing.T) {
	if !doctortest.InNetns(t, addrMoat+"/32", addrMoat2+"/32") {
		return
	}
	dnsAddr := doctortest.StartDNS(t, "127.0.0.1:0", zone)
	ca := doctortest.NewCA(t, "Contoso Test Root")
	listener := func(name, addr, host string) config.Listener {
		cf, kf := doctortest.WriteFiles(t, ca.Issue(t, []string{host}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))
		return config.Listener{Name: name, Address: addr + ":443", Kind: "private_endpoint", TLS: &config.TLS{CertFile: cf, KeyFile: kf}}
	}
	pub := listener("pub", addrNothing, "stale.contoso.internal")
	pub.Kind = "public"
	cfg := &config.Config{Listeners: []config.Listener{
		listener("pe", addrMoat, "moat.contoso.internal"),
		listener("pe2", addrMoat2, "wrong.contoso.internal"),
		listener("pe3", addrMoat2+"1", "missing.contoso.internal"),
		listener("pe4", addrMoat2+"2", "stale.contoso.internal"),
		pub,
	}}
	cfg.Network.PublicNetworkAccess = "disabled"
	rep := &Report{}
	o := Options{Resolver: &Resolver{Server: dnsAddr}}
	o.defaults()
	checkRecords(context.Background(), cfg, o, rep)
	want := map[string]string{
		"record moat.contoso.internal":    "ok/",
		"record wrong.contoso.internal":   "fail/record_wrong",
		"record stale.contoso.internal":   "fail/record_public_disabled",
		"record missing.contoso.internal": "warn/record_missing",
	}
	for _, c := range rep.Checks {
		if got := string(c.Status) + "/" + c.Code; got != want[c.Name] {
			t.Errorf("%s: %s (%s), want %s", c.Name, got, c.Cause, want[c.Name])
		}
		delete(want, c.Name)
	}
	if len(want) > 0 {
		t.Errorf("checks missing: %v", want)
	}
}
