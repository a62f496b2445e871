package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGuard(t *testing.T) {
	reached := 0
	h := Guard(GuardOptions{
		AllowedHosts: func() []string { return []string{"moat.internal", "*.mgmt.example"} },
		ReadOnly:     func(r *http.Request) bool { return r.URL.Path == "/api/query" },
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++ }))
	tests := []struct {
		name, method, path, host, ctype string
		hdr                             []string
		want                            int // 0: reached the handler
	}{
		{"get by ip", "GET", "/metrics", "10.0.0.4:9090", "", nil, 0},
		{"get by v6 ip", "GET", "/metrics", "[::1]:9090", "", nil, 0},
		{"localhost", "GET", "/admin/keys", "localhost:9090", "", nil, 0},
		{"sub.localhost", "GET", "/admin/keys", "app.localhost", "", nil, 0},
		{"configured name", "GET", "/metrics", "MOAT.internal.:9090", "", nil, 0},
		{"wildcard", "GET", "/metrics", "a.mgmt.example", "", nil, 0},
		{"wildcard needs a label", "GET", "/metrics", "mgmt.example", "", nil, 403},
		{"rebinding name", "GET", "/admin/keys", "attacker.example:9090", "", nil, 403},
		{"rebinding name on a state change", "POST", "/admin/keys", "attacker.example", "application/json", []string{RequestHeader, "1"}, 403},
		{"form post", "POST", "/admin/keys", "127.0.0.1:9090", "application/x-www-form-urlencoded", nil, 415},
		{"text/plain post", "POST", "/admin/keys", "127.0.0.1:9090", "text/plain", []string{RequestHeader, "1"}, 415},
		{"no content type", "DELETE", "/admin/roles/assignments/x", "127.0.0.1", "", []string{"api-key", "k"}, 415},
		{"json without header", "POST", "/admin/keys", "127.0.0.1", "application/json", nil, 403},
		{"json with header", "POST", "/admin/keys", "127.0.0.1", "application/json; charset=utf-8", []string{RequestHeader, "1"}, 0},
		{"json with api-key", "POST", "/admin/keys", "127.0.0.1", "application/json", []string{"api-key", "k"}, 0},
		{"json with bearer", "PATCH", "/admin/x", "127.0.0.1", "application/json", []string{"Authorization", "Bearer t"}, 0},
		{"read-only query as text", "POST", "/api/query", "127.0.0.1", "text/plain", nil, 0},
		{"read-only query, foreign host", "POST", "/api/query", "evil.example", "text/plain", nil, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := reached
			r := httptest.NewRequest(tt.method, "http://x"+tt.path, strings.NewReader(`{}`))
			r.Host = tt.host
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				r.Header.Set(tt.hdr[i], tt.hdr[i+1])
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if tt.want == 0 {
				if reached != before+1 {
					t.Fatalf("refused: %d %s", w.Code, w.Body)
				}
				return
			}
			if reached != before || w.Code != tt.want || !strings.HasPrefix(w.Body.String(), `{"error":{"code":`) {
				t.Fatalf("got %d %s (handler reached: %v), want %d", w.Code, w.Body, reached != before, tt.want)
			}
		})
	}
}
