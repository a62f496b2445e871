package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/cli"
	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/doctor/doctortest"
	"github.com/moat-gw/moat/internal/gateway"
)

// doctorJSON is moat doctor -o json's output.
type doctorJSON struct {
	OK     bool `json:"ok"`
	Checks []struct {
		Subject, Check, Status, Detail, Cause, Code string
	} `json:"checks"`
}

func runMoat(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestDoctorClient runs moat doctor --client against a running moat with a
// TLS listener per network outcome, its name served by a real DNS server.
func TestDoctorClient(t *testing.T) {
	const key = "doctor-client-key-0123456789abcdef012"
	ca := doctortest.NewCA(t, "Contoso Test Root")
	cf, kf := doctortest.WriteFiles(t, ca.Issue(t, []string{"moat.contoso.internal"}, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour)))
	tls := "tls: {cert_file: " + cf + ", key_file: " + kf + "}"
	y := `
data_dir: ` + t.TempDir() + `
listeners:
  - {name: pe, address: '127.0.0.1:0', kind: private_endpoint, ` + tls + `}
  - {name: pub, address: '127.0.0.1:0', kind: public, ` + tls + `}
  - {name: fenced, address: '127.0.0.1:0', kind: private_endpoint, allowed_sources: [10.0.0.0/8], ` + tls + `}
management: {listeners: [{name: mgmt, address: '127.0.0.1:0', kind: private_endpoint}]}
network: {public_network_access: disabled}
auth: {keys: [{name: app, key: ` + key + `, deployments: [gpt-4o-mini]}]}
simulator: {time_to_first_token: 1ms}
`
	cfg, err := config.Parse([]byte(y))
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
	dnsAddr := doctortest.StartDNS(t, "127.0.0.1:0", []string{"moat.contoso.internal. 60 IN A 127.0.0.1"})
	url := func(listener string) string {
		_, port, _ := net.SplitHostPort(srv.Addr(listener))
		return "https://moat.contoso.internal:" + port
	}
	tests := []struct {
		name     string
		args     []string
		wantExit int
		want     map[string]string // check → "status/code"; an empty code matches any
		mention  string
	}{
		{"admitted, may call", []string{"--client", url("pe"), "--ca-file", ca.File, "--api-key", key, "--deployment", "gpt-4o-mini"}, 0,
			map[string]string{"dns": "ok/private", "tcp": "ok/", "tls": "ok/", "network": "ok/", "credential": "ok/", "deployment gpt-4o-mini": "ok/"},
			"moat sees this client as 127.0.0.1 on listener pe (private_endpoint), admitted by private_endpoint"},
		{"moat's certificate not trusted", []string{"--client", url("pe"), "--api-key", key}, 1,
			map[string]string{"tls": "fail/tls_untrusted"}, "Contoso Test Root"},
		{"public access disabled", []string{"--client", url("pub"), "--ca-file", ca.File, "--api-key", key}, 1,
			map[string]string{"network": "fail/public_access_disabled"}, "public listeners"},
		{"listener's allowed_sources", []string{"--client", url("fenced"), "--ca-file", ca.File, "--api-key", key}, 1,
			map[string]string{"network": "fail/firewall"}, "allowed_sources"},
		{"bad key", []string{"--client", url("pe"), "--ca-file", ca.File, "--api-key", "not-the-key-0123456789abcdef0123456789"}, 1,
			map[string]string{"network": "ok/", "credential": "fail/bad_api_key"}, "api-key was refused"},
		{"no key", []string{"--client", url("pe"), "--ca-file", ca.File}, 0,
			map[string]string{"network": "ok/", "credential": "skip/"}, "pass --api-key"},
		{"deployment outside the key's scope", []string{"--client", url("pe"), "--ca-file", ca.File, "--api-key", key, "--deployment", "gpt-4o"}, 1,
			map[string]string{"deployment gpt-4o": "fail/"}, "a call would get 40"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runMoat(t, append([]string{"doctor", "-o", "json", "--dns", dnsAddr, "--timeout", "5s"}, tt.args...)...)
			var rep doctorJSON
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("exit %d, not JSON: %v\n%s\n%s", code, err, out, stderr)
			}
			if code != tt.wantExit || rep.OK != (tt.wantExit == 0) {
				t.Errorf("exit %d ok=%v, want %d\n%s", code, rep.OK, tt.wantExit, out)
			}
			for check, w := range tt.want {
				found := false
				for _, c := range rep.Checks {
					if c.Check != check {
						continue
					}
					found = true
					status, code, _ := strings.Cut(w, "/")
					if c.Status != status || (code != "" && c.Code != code) {
						t.Errorf("%s = %s/%s, want %s (%s)", check, c.Status, c.Code, w, c.Cause)
					}
				}
				if !found {
					t.Errorf("no %s check in\n%s", check, out)
				}
			}
			if !strings.Contains(out, tt.mention) {
				t.Errorf("output does not mention %q:\n%s", tt.mention, out)
			}
		})
	}
}

// TestDoctorAndRecordsCommands: the server-side run and moat dns records
// from the command line, with their exit codes.
func TestDoctorAndRecordsCommands(t *testing.T) {
	dir := t.TempDir()
	ca := doctortest.NewCA(t, "Contoso Test Root")
	cf, kf := doctortest.WriteFiles(t, ca.Issue(t, []string{"contoso-aoai.openai.azure.com"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))
	path := filepath.Join(dir, "moat.yaml")
	y := `
data_dir: ` + dir + `
listeners: [{name: pe, address: '10.0.3.4:443', kind: private_endpoint, tls: {cert_file: ` + cf + `, key_file: ` + kf + `}}]
auth: {keys: [{name: app, key: 'doctor-test-key-0123456789abcdef0123'}]}
upstreams: [{name: sim, type: simulator}]
deployments: [{name: gpt, upstreams: [{upstream: sim}]}]
`
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	dnsAddr := doctortest.StartDNS(t, "127.0.0.1:0", []string{"contoso-aoai.openai.azure.com. 60 IN A 10.0.3.4"})
	code, out, stderr := runMoat(t, "doctor", "--config", path, "--dns", dnsAddr)
	if code != 0 || !strings.Contains(out, "built-in simulator") || !strings.Contains(out, "resolves to the listener's address 10.0.3.4") {
		t.Fatalf("doctor exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr = runMoat(t, "dns", "records", "--config", path, "--format", "dnsmasq")
	if code != 0 || !strings.Contains(out, "host-record=contoso-aoai.openai.azure.com,10.0.3.4") {
		t.Fatalf("dns records exit %d\n%s\n%s", code, out, stderr)
	}
	if code, _, _ = runMoat(t, "dns", "records", "--config", path, "--format", "hosts"); code != 2 {
		t.Fatalf("unknown format: exit %d, want 2", code)
	}
	if code, _, _ = runMoat(t, "doctor", "-o", "yaml"); code != 2 {
		t.Fatalf("-o yaml: exit %d, want 2", code)
	}
}
