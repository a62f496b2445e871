package studio_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/idp"
	"github.com/moat-gw/moat/internal/studio"
)

const (
	tenant      = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	appClient   = "8b29463d-71da-4fe0-8e69-999b57db23b3"
	aliceObject = "11111111-0000-0000-0000-0000000000a1"
	goodKey     = "a-key-the-fake-gateway-accepts-0123456789"
)

// harness is a studio in front of fake gateway hooks, with moat idp as
// its OIDC issuer. The hooks authenticate like the gateway: tokens through
// auth.Validator against the idp, one API key, and record what reached
// the admin API and the data plane.
type harness struct {
	srv       *httptest.Server
	idpURL    string
	adminHits atomic.Int32
	adminAuth atomic.Value // the credential header the admin API saw
	anonymous bool
	public    bool
}

func newHarness(t *testing.T, mutate func(*studio.Options, *harness)) *harness {
	t.Helper()
	h := &harness{}
	var idpHandler, studioHandler http.Handler
	idpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { idpHandler.ServeHTTP(w, r) }))
	t.Cleanup(idpSrv.Close)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { studioHandler.ServeHTTP(w, r) }))
	t.Cleanup(h.srv.Close)
	h.idpURL = idpSrv.URL
	iss, err := idp.New(idp.Options{TenantID: tenant,
		Identities: []idp.Identity{{Name: "studio", ClientID: appClient, ObjectID: appClient,
			RedirectURIs: []string{h.srv.URL + "/studio/callback"}}},
		Users: []idp.User{{Name: "Alice", UPN: "alice@contoso.com", ObjectID: aliceObject}}})
	if err != nil {
		t.Fatal(err)
	}
	idpHandler = iss.Handler()
	v, err := auth.NewValidator([]auth.Issuer{{TenantID: tenant, DiscoveryURL: idpSrv.URL + idp.DiscoveryPath}}, auth.ValidatorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	identify := func(r *http.Request) (studio.Identity, error) {
		if h.anonymous {
			return studio.Identity{Principal: "anonymous", AuthType: "none"}, nil
		}
		if k := r.Header.Get("api-key"); k != "" {
			if k != goodKey {
				return studio.Identity{}, httpx.FrontDoor(http.StatusUnauthorized, httpx.KindClientAuth, "401", "invalid subscription key", nil)
			}
			return studio.Identity{Principal: "key-1", AuthType: "key"}, nil
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return studio.Identity{}, httpx.FrontDoor(http.StatusUnauthorized, httpx.KindClientAuth, "401", "no credential", nil)
		}
		p, err := v.Validate(r.Context(), tok)
		if err != nil {
			return studio.Identity{}, err
		}
		return studio.Identity{Principal: p.DisplayID(), AuthType: p.Type}, nil
	}
	o := studio.Options{
		OIDC: &studio.OIDC{DiscoveryURL: idpSrv.URL + idp.DiscoveryPath, ClientID: appClient,
			Scopes: []string{"openid", "https://cognitiveservices.azure.com/.default"}},
		KeySignIn: func() bool { return true },
		Anonymous: func() bool { return h.anonymous },
		Refuse: func(*http.Request) error {
			if h.public {
				return httpx.FrontDoor(http.StatusForbidden, httpx.KindPolicyNetwork, "403", "public", errors.New("public"))
			}
			return nil
		},
		Identify: identify,
		// Keys hold no Moat/* role here: key sessions are refused the admin views.
		Authorize: func(r *http.Request, action string) (string, error) {
			id, err := identify(r)
			if err != nil {
				return "", err
			}
			if id.AuthType == "key" && strings.HasPrefix(action, "Moat/") {
				return "", httpx.FrontDoor(http.StatusForbidden, httpx.KindPolicyForbidden, "PermissionDenied", "no role", nil)
			}
			return id.Principal, nil
		},
		Admin: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.adminHits.Add(1)
			h.adminAuth.Store(r.Header.Get("Authorization") + "|" + r.Header.Get("api-key") + "|" + r.Header.Get("Cookie") + "|" + r.Header.Get(studio.CSRFHeader))
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"path":"`+r.URL.Path+`","method":"`+r.Method+`"}`)
		}),
		Data: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: {\"path\":\""+r.URL.Path+"\",\"bearer\":"+
				strconv.FormatBool(strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ey"))+"}\n\n")
		}),
		Deployments: func(*http.Request) ([]studio.Deployment, error) {
			return []studio.Deployment{{Name: "gpt-4o", Model: "gpt-4o", Allowed: true}}, nil
		},
		Status: func(context.Context) any { return map[string]any{"version": "test"} },
	}
	if mutate != nil {
		mutate(&o, h)
	}
	st, err := studio.New(o)
	if err != nil {
		t.Fatal(err)
	}
	studioHandler = st
	return h
}

// browser is a cookie-keeping client that shows redirects instead of
// following them.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, method, u, csrf, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf != "" {
		req.Header.Set(studio.CSRFHeader, csrf)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

type sessionView struct {
	SignedIn  bool            `json:"signed_in"`
	Principal string          `json:"principal"`
	AuthType  string          `json:"auth_type"`
	CSRF      string          `json:"csrf"`
	Methods   []string        `json:"methods"`
	Anonymous bool            `json:"anonymous"`
	Can       map[string]bool `json:"can"`
	Error     string          `json:"error"`
}

func getSession(t *testing.T, c *http.Client, base string) sessionView {
	t.Helper()
	resp, body := do(t, c, http.MethodGet, base+"/studio/api/session", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("session: %d %s", resp.StatusCode, body)
	}
	var v sessionView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// signInOIDC walks the code flow as a browser would: studio login, the
// idp's sign-in page (Alice), the callback.
func signInOIDC(t *testing.T, c *http.Client, h *harness) *http.Response {
	t.Helper()
	resp, _ := do(t, c, http.MethodGet, h.srv.URL+"/studio/login", "", "")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), h.idpURL+idp.AuthorizePath) {
		t.Fatalf("login: %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	authz, _ := url.Parse(resp.Header.Get("Location"))
	form := authz.Query()
	form.Set("user", aliceObject)
	resp, err := c.PostForm(h.idpURL+idp.AuthorizePath, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("idp sign-in: %d", resp.StatusCode)
	}
	resp, _ = do(t, c, http.MethodGet, resp.Header.Get("Location"), "", "")
	return resp
}

func TestOIDCSignInAndOut(t *testing.T) {
	h := newHarness(t, nil)
	c := browser(t)
	if v := getSession(t, c, h.srv.URL); v.SignedIn || strings.Join(v.Methods, ",") != "oidc,key" {
		t.Fatalf("before sign-in: %+v", v)
	}
	resp := signInOIDC(t, c, h)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/studio/" {
		t.Fatalf("callback: %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sc *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "moat_studio" {
			sc = ck
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v", sc)
	}
	v := getSession(t, c, h.srv.URL)
	if !v.SignedIn || v.Principal != "alice@contoso.com" || v.CSRF == "" || !v.Can["keys"] {
		t.Fatalf("after sign-in: %+v", v)
	}

	// The admin API sees the access token, never the browser's cookie or CSRF token.
	resp, body := do(t, c, http.MethodGet, h.srv.URL+"/studio/api/admin/keys?x=1", "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"path":"/admin/keys"`) {
		t.Fatalf("admin: %d %s", resp.StatusCode, body)
	}
	if seen := h.adminAuth.Load().(string); !strings.HasPrefix(seen, "Bearer ey") || !strings.HasSuffix(seen, "||") {
		t.Errorf("admin API saw credentials %q", seen)
	}

	// The playground goes to the data plane with the token.
	resp, body = do(t, c, http.MethodPost, h.srv.URL+"/studio/api/chat/gpt-4o", v.CSRF, `{"messages":[]}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"path":"/openai/deployments/gpt-4o/chat/completions","bearer":true`) {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}

	// Signing out needs the CSRF token, then ends the session server-side.
	if resp, _ := do(t, c, http.MethodPost, h.srv.URL+"/studio/api/logout", "", "{}"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without CSRF: %d", resp.StatusCode)
	}
	if resp, _ := do(t, c, http.MethodPost, h.srv.URL+"/studio/api/logout", v.CSRF, "{}"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := do(t, c, http.MethodGet, h.srv.URL+"/studio/api/admin/keys", "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after sign-out: %d", resp.StatusCode)
	}
}

func TestCallbackRefusals(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		name string
		run  func(t *testing.T) *http.Response
		want string
	}{
		{name: "state from another browser", want: "state_mismatch", run: func(t *testing.T) *http.Response {
			victim, attacker := browser(t), browser(t)
			resp, _ := do(t, attacker, http.MethodGet, h.srv.URL+"/studio/login", "", "")
			authz, _ := url.Parse(resp.Header.Get("Location"))
			form := authz.Query()
			form.Set("user", aliceObject)
			resp, _ = attacker.PostForm(h.idpURL+idp.AuthorizePath, form)
			resp.Body.Close()
			// The attacker's callback URL, opened in the victim's browser.
			resp, _ = do(t, victim, http.MethodGet, resp.Header.Get("Location"), "", "")
			return resp
		}},
		{name: "issuer error", want: "issuer_access_denied", run: func(t *testing.T) *http.Response {
			c := browser(t)
			resp, _ := do(t, c, http.MethodGet, h.srv.URL+"/studio/login", "", "")
			authz, _ := url.Parse(resp.Header.Get("Location"))
			resp, _ = do(t, c, http.MethodGet, h.srv.URL+"/studio/callback?error=access_denied&state="+authz.Query().Get("state"), "", "")
			return resp
		}},
		{name: "forged code", want: "token_refused", run: func(t *testing.T) *http.Response {
			c := browser(t)
			resp, _ := do(t, c, http.MethodGet, h.srv.URL+"/studio/login", "", "")
			authz, _ := url.Parse(resp.Header.Get("Location"))
			resp, _ = do(t, c, http.MethodGet, h.srv.URL+"/studio/callback?code=forged&state="+authz.Query().Get("state"), "", "")
			return resp
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.run(t)
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/studio/?error="+tt.want {
				t.Errorf("callback: %d to %s, want error %s", resp.StatusCode, resp.Header.Get("Location"), tt.want)
			}
			for _, ck := range resp.Cookies() {
				if ck.Name == "moat_studio" && ck.Value != "" {
					t.Error("a session was started")
				}
			}
		})
	}
}

func TestKeySignIn(t *testing.T) {
	keySignIn := true
	h := newHarness(t, func(o *studio.Options, _ *harness) { o.KeySignIn = func() bool { return keySignIn } })
	c := browser(t)
	if resp, body := do(t, c, http.MethodPost, h.srv.URL+"/studio/api/login/key", "", `{"key":"wrong"}`); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong key: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, c, http.MethodPost, h.srv.URL+"/studio/api/login/key", "", `{"key":"`+goodKey+`"}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("key sign-in: %d %s", resp.StatusCode, body)
	}
	v := getSession(t, c, h.srv.URL)
	if !v.SignedIn || v.AuthType != "key" || v.Can["keys"] {
		t.Fatalf("key session: %+v", v)
	}
	// RBAC, not the studio, refuses this principal the key views.
	resp, _ := do(t, c, http.MethodGet, h.srv.URL+"/studio/api/status", "", "")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("status view for a key without a role: %d", resp.StatusCode)
	}
	keySignIn = false
	if v := getSession(t, browser(t), h.srv.URL); strings.Join(v.Methods, ",") != "oidc" {
		t.Errorf("methods with key sign-in off: %v", v.Methods)
	}
	if resp, _ := do(t, browser(t), http.MethodPost, h.srv.URL+"/studio/api/login/key", "", `{"key":"`+goodKey+`"}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("key sign-in when not allowed: %d", resp.StatusCode)
	}
}

func TestAnonymousNeedsNoSignIn(t *testing.T) {
	h := newHarness(t, func(_ *studio.Options, h *harness) { h.anonymous = true })
	c := browser(t)
	v := getSession(t, c, h.srv.URL)
	if !v.SignedIn || !v.Anonymous || len(v.Methods) != 0 || v.CSRF == "" {
		t.Fatalf("anonymous session: %+v", v)
	}
	// Even anonymous state changes need the session's CSRF token.
	if resp, _ := do(t, c, http.MethodPost, h.srv.URL+"/studio/api/admin/keys", "", `{"name":"x"}`); resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous POST without CSRF: %d", resp.StatusCode)
	}
	if n := h.adminHits.Load(); n != 0 {
		t.Errorf("the admin API was reached %d times", n)
	}
	if resp, _ := do(t, c, http.MethodPost, h.srv.URL+"/studio/api/admin/keys", v.CSRF, `{"name":"x"}`); resp.StatusCode != http.StatusOK {
		t.Errorf("anonymous POST with CSRF: %d", resp.StatusCode)
	}
}

func TestRefusedListenerServesNothing(t *testing.T) {
	h := newHarness(t, func(_ *studio.Options, h *harness) { h.public = true })
	for _, path := range []string{"/studio/", "/studio/app.js", "/studio/api/session", "/studio/login"} {
		resp, _ := do(t, browser(t), http.MethodGet, h.srv.URL+path, "", "")
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", path, resp.StatusCode)
		}
	}
}

func TestPageHeaders(t *testing.T) {
	h := newHarness(t, nil)
	resp, body := do(t, browser(t), http.MethodGet, h.srv.URL+"/studio/", "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<html lang="en">`) {
		t.Fatalf("page: %d", resp.StatusCode)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
		t.Error("inline script or style")
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Error("no X-Frame-Options")
	}
}
