package studio

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestPKCEChallenge(t *testing.T) {
	// RFC 7636 Appendix B.
	if got := pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Errorf("challenge = %s", got)
	}
	v := randomToken()
	if len(v) != 43 {
		t.Errorf("verifier of %d characters; RFC 7636 wants 43 to 128", len(v))
	}
	if randomToken() == v {
		t.Error("two random tokens are equal")
	}
}

func TestAuthURLCarriesPKCE(t *testing.T) {
	p := newProvider(OIDC{ClientID: "app", Scopes: []string{"openid", "https://cognitiveservices.azure.com/.default"}})
	raw := p.authURL(&endpoints{Authorization: "https://login.example/authorize?p=1"}, "https://moat/cb", "st", "n", "verifier")
	req := httptest.NewRequest(http.MethodGet, raw, nil)
	q := req.URL.Query()
	want := map[string]string{"p": "1", "client_id": "app", "response_type": "code", "redirect_uri": "https://moat/cb", "state": "st",
		"nonce": "n", "code_challenge": pkceChallenge("verifier"), "code_challenge_method": "S256",
		"scope": "openid https://cognitiveservices.azure.com/.default"}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if q.Has("code_verifier") {
		t.Error("the verifier left the server")
	}
}

func TestMemorySessionsExpire(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMemorySessions(func() time.Time { return now })
	ctx := context.Background()
	if err := m.Put(ctx, "a", Session{Principal: "alice", Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		advance time.Duration
		key     string
		wantOK  bool
	}{
		{name: "fresh", key: "a", wantOK: true},
		{name: "unknown", key: "b"},
		{name: "just before expiry", advance: 59 * time.Minute, key: "a", wantOK: true},
		{name: "at expiry", advance: time.Minute, key: "a"},
		{name: "gone after expiry", key: "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = now.Add(tt.advance)
			s, ok, err := m.Get(ctx, tt.key)
			if err != nil || ok != tt.wantOK || (ok && s.Principal != "alice") {
				t.Errorf("Get = %+v %v %v, want ok %v", s, ok, err, tt.wantOK)
			}
		})
	}
	if m.Len() != 0 {
		t.Errorf("%d sessions left after expiry", m.Len())
	}
	_ = m.Put(ctx, "c", Session{Expires: now.Add(time.Hour)})
	_ = m.Delete(ctx, "c")
	if _, ok, _ := m.Get(ctx, "c"); ok {
		t.Error("deleted session still there")
	}
}

func TestSweepDropsAbandonedSessions(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMemorySessions(func() time.Time { return now })
	for i := range 63 {
		_ = m.Put(context.Background(), string(rune('a'+i)), Session{Expires: now.Add(time.Minute)})
	}
	now = now.Add(time.Hour)
	_ = m.Put(context.Background(), "live", Session{Expires: now.Add(time.Minute)})
	if m.Len() != 1 {
		t.Errorf("%d sessions after a sweep, want 1", m.Len())
	}
}

func TestCheckCSRF(t *testing.T) {
	sess := Session{CSRF: "token-123"}
	tests := []struct {
		name, method, header string
		sess                 Session
		wantErr              bool
	}{
		{name: "GET needs none", method: http.MethodGet},
		{name: "HEAD needs none", method: http.MethodHead},
		{name: "POST with token", method: http.MethodPost, header: "token-123", sess: sess},
		{name: "POST without token", method: http.MethodPost, sess: sess, wantErr: true},
		{name: "POST with another token", method: http.MethodPost, header: "token-124", sess: sess, wantErr: true},
		{name: "DELETE without token", method: http.MethodDelete, sess: sess, wantErr: true},
		{name: "session without token", method: http.MethodPost, header: "", sess: Session{}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/studio/api/x", nil)
			if tt.header != "" {
				r.Header.Set(CSRFHeader, tt.header)
			}
			if err := checkCSRF(r, tt.sess); (err != nil) != tt.wantErr {
				t.Errorf("checkCSRF = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestCookieAttributes(t *testing.T) {
	tests := []struct {
		name     string
		secure   bool
		set      func(cookies, http.ResponseWriter)
		wantName string
		wantSite http.SameSite
	}{
		{name: "session over TLS", secure: true, set: func(c cookies, w http.ResponseWriter) { c.session(w, "id", time.Now().Add(time.Hour)) },
			wantName: "__Host-moat_studio", wantSite: http.SameSiteStrictMode},
		{name: "session over plain HTTP", set: func(c cookies, w http.ResponseWriter) { c.session(w, "id", time.Now().Add(time.Hour)) },
			wantName: "moat_studio", wantSite: http.SameSiteStrictMode},
		{name: "login over TLS", secure: true, set: func(c cookies, w http.ResponseWriter) { c.login(w, "st", time.Now().Add(time.Hour)) },
			wantName: "__Host-moat_studio_login", wantSite: http.SameSiteLaxMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.set(cookies{secure: tt.secure}, rec)
			cs := rec.Result().Cookies()
			if len(cs) != 1 {
				t.Fatalf("%d cookies", len(cs))
			}
			c := cs[0]
			if c.Name != tt.wantName || !c.HttpOnly || c.Secure != tt.secure || c.SameSite != tt.wantSite || c.Path != "/" || c.Domain != "" {
				t.Errorf("cookie %+v", c)
			}
		})
	}
}
