package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testCA issues listener certificates for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "moat test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a leaf certificate for 127.0.0.1 named cn, valid until
// notAfter, to certFile and keyFile.
func (ca *testCA) issue(t *testing.T, cn string, notAfter time.Time, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCertificateRotation renews a listener's certificate under a running
// moat: by file change and by reload, with a broken pair in between, and
// checks that a connection opened before the change keeps working.
func TestCertificateRotation(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca := newTestCA(t)
	clk := newClock()
	real := time.Now().Truncate(time.Second)
	ca.issue(t, "first.moat.test", real.Add(48*time.Hour), certFile, keyFile)
	cfg := "listeners: [{name: data, address: '127.0.0.1:0', tls: {cert_file: " + certFile + ", key_file: " + keyFile + "}}]\n" +
		"management: {listeners: [{name: mgmt, address: '127.0.0.1:0', kind: private_endpoint}]}\n"
	ts := startServerOpts(t, cfg, Options{Version: "test", Now: clk.Now})
	addr := ts.Addr("data")

	served := func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	// A keep-alive client whose one connection is opened before the renewal.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}, MaxConnsPerHost: 1}}
	get := func() (reused bool) {
		t.Helper()
		var info httptrace.GotConnInfo
		req, _ := http.NewRequest("GET", "https://"+addr+"/healthz", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { info = i }}))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request on kept connection: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return info.Reused
	}
	get()
	if got := served(); got != "first.moat.test" {
		t.Fatalf("served %q at start", got)
	}

	// A half-written pair keeps the old certificate.
	writeFile(t, certFile, []byte("-----BEGIN CERTIFICATE-----\nnot yet\n"))
	clk.Add(2 * certCheckEvery)
	if got := served(); got != "first.moat.test" {
		t.Fatalf("served %q after a broken write", got)
	}

	// The renewed pair is picked up by the next handshake, no reload needed.
	ca.issue(t, "second.moat.test", real.Add(72*time.Hour), certFile, keyFile)
	clk.Add(2 * certCheckEvery)
	if got := served(); got != "second.moat.test" {
		t.Fatalf("served %q after renewal", got)
	}
	if !get() {
		t.Error("the connection opened before the renewal was not reused")
	}
	metrics := scrape(t, ts)
	want := real.Add(72 * time.Hour).Sub(clk.Now()).Seconds()
	if got := metricValue(t, metrics, `moat_tls_certificate_expiry_seconds{listener="data"}`); got != want {
		t.Errorf("expiry metric %v, want %v (the renewed certificate)", got, want)
	}

	// SIGHUP (Reload) rereads the files without waiting for the check interval.
	ca.issue(t, "third.moat.test", real.Add(96*time.Hour), certFile, keyFile)
	if err := ts.Reload(mustConfig(t, completeConfig(cfg, ts.cfg.Load().DataDir))); err != nil {
		t.Fatal(err)
	}
	if got := served(); got != "third.moat.test" {
		t.Fatalf("served %q after reload", got)
	}
	if r := ts.ReloadStatus(); r.Succeeded != 1 || r.Failed != 0 {
		t.Errorf("reload status %+v", r)
	}
	// A reload whose certificate does not load is a failed reload, and
	// the running certificate stays.
	writeFile(t, keyFile, []byte("garbage"))
	if err := ts.Reload(mustConfig(t, completeConfig(cfg, ts.cfg.Load().DataDir))); err == nil {
		t.Error("reload with a broken key succeeded")
	}
	if got := served(); got != "third.moat.test" {
		t.Fatalf("served %q after a failed reload", got)
	}
	if r := ts.ReloadStatus(); r.Failed != 1 || r.LastError == "" {
		t.Errorf("reload status %+v", r)
	}
	m := scrape(t, ts)
	for _, want := range []string{`moat_config_reloads_total{result="failure"} 1`, `moat_config_reloads_total{result="success"} 1`,
		`moat_build_info{commit="",go_version="go`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func scrape(t *testing.T, ts *testServer) string {
	t.Helper()
	_, _, body := do(t, "GET", ts.mgmtURL+"/metrics", "")
	return body
}

// metricValue finds the sample named series (with labels) in a scrape.
func metricValue(t *testing.T, scrape, series string) float64 {
	t.Helper()
	for _, l := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in the scrape", series)
	return 0
}

// TestClientCertificateAuth checks a listener with client_ca_file: a
// certificate from the CA authenticates as cert:<SAN>, which a role
// assignment grants; another name is denied, and no certificate, no
// connection.
func TestClientCertificateAuth(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	srvCert, srvKey := filepath.Join(dir, "srv.crt"), filepath.Join(dir, "srv.key")
	ca.issue(t, "moat.test", time.Now().Add(time.Hour), srvCert, srvKey)
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
	clientPair := func(cn string) tls.Certificate {
		c, k := filepath.Join(dir, cn+".crt"), filepath.Join(dir, cn+".key")
		ca.issue(t, cn, time.Now().Add(time.Hour), c, k)
		pair, err := tls.LoadX509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return pair
	}
	cfg := "listeners: [{name: data, address: '127.0.0.1:0', tls: {cert_file: " + srvCert + ", key_file: " + srvKey +
		", client_ca_file: " + caFile + "}}]\n" +
		"management: {listeners: [{name: mgmt, address: '127.0.0.1:0', kind: private_endpoint}]}\n" +
		"auth:\n  assignments:\n    - {role: Cognitive Services OpenAI User, principal: 'cert:batch.moat.test', scope: /deployments/gpt-4o-mini}\n"
	ts := startServer(t, cfg)
	url := "https://" + ts.Addr("data") + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
	call := func(certs ...tls.Certificate) (int, error) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool, Certificates: certs}}}
		resp, err := c.Post(url, "application/json", strings.NewReader(chatBody))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if code, err := call(clientPair("batch.moat.test")); err != nil || code != 200 {
		t.Errorf("assigned certificate: %d %v", code, err)
	}
	if code, err := call(clientPair("other.moat.test")); err != nil || code != 401 {
		t.Errorf("unassigned certificate: %d %v, want 401 PermissionDenied", code, err)
	}
	if _, err := call(); err == nil {
		t.Error("a call without a certificate got through a client_auth: require listener")
	}
	// A call's record is written after its answer has gone out, so the two
	// records may be stored in either order.
	recs := ts.records()
	callers := map[string]string{}
	for _, r := range recs {
		callers[r.Caller] = r.AuthType
	}
	_, other := callers["other.moat.test"]
	if len(recs) != 2 || callers["batch.moat.test"] != "cert" || !other {
		t.Errorf("records %+v", recs)
	}
}
