package upstream

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConnectAddress dials the configured address while the endpoint's
// name stays the SNI, the Host header and the name the certificate is
// checked against: httptest's certificate is for example.com, which
// resolves nowhere here, so only connect_address can reach the server.
func TestConnectAddress(t *testing.T) {
	var gotHost, gotSNI string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost, gotSNI = r.Host, r.TLS.ServerName
		w.Write([]byte("{}"))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, base, wantErr string
	}{
		{"name on the certificate", "https://example.com", ""},
		{"name not on the certificate", "https://contoso.privatelink.example.net", "certificate is valid for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := New(Options{Name: "u", Type: TypeAzure, BaseURL: tt.base, APIVersion: "2024-10-21",
				CAFile: ca, ConnectAddress: srv.Listener.Addr().String()})
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			req, _ := http.NewRequest(http.MethodGet, tg.URL(Call{Operation: op("chat"), Deployment: "d"}).String(), nil)
			resp, err := tg.Transport().RoundTrip(req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if gotHost != "example.com" || gotSNI != "example.com" {
				t.Fatalf("Host %q SNI %q, want example.com for both", gotHost, gotSNI)
			}
			if resp.ProtoMajor != 2 {
				t.Errorf("proto %s: HTTP/2 lost with a custom dialer", resp.Proto)
			}
		})
	}
}
