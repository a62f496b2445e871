package idp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const (
	appClient   = "8b29463d-71da-4fe0-8e69-999b57db23b3"
	appRedirect = "http://127.0.0.1:9/studio/callback"
	aliceObject = "11111111-0000-0000-0000-0000000000a1"
	verifier    = "a-verifier-of-at-least-forty-three-characters-0123456789"
)

func withApp(o *Options) {
	o.Identities = append(o.Identities, Identity{Name: "studio", ClientID: appClient, ObjectID: "11111111-0000-0000-0000-000000000004",
		RedirectURIs: []string{appRedirect}})
	o.Users = []User{{Name: "Alice", UPN: "alice@contoso.com", ObjectID: aliceObject, Groups: []string{"g1"}}}
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func authorizeParams() url.Values {
	return url.Values{"client_id": {appClient}, "redirect_uri": {appRedirect}, "response_type": {"code"},
		"scope": {"openid profile " + scope}, "state": {"st"}, "nonce": {"n"},
		"code_challenge": {S256(verifier)}, "code_challenge_method": {"S256"}}
}

func signIn(t *testing.T, base string, params url.Values) *url.URL {
	t.Helper()
	form := url.Values{"user": {aliceObject}}
	for k, v := range params {
		form[k] = v
	}
	resp, err := noRedirect.PostForm(base+AuthorizePath, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in answered %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func redeem(t *testing.T, base string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(base+TokenPath, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestAuthorizationCodePKCE(t *testing.T) {
	_, base := start(t, withApp)

	resp, err := http.Get(base + AuthorizePath + "?" + authorizeParams().Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("sign-in page: %d %v", resp.StatusCode, resp.Header)
	}

	loc := signIn(t, base, authorizeParams())
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != appRedirect || loc.Query().Get("state") != "st" {
		t.Fatalf("redirected to %s", loc)
	}
	code := loc.Query().Get("code")
	good := url.Values{"grant_type": {"authorization_code"}, "client_id": {appClient}, "code": {code},
		"redirect_uri": {appRedirect}, "code_verifier": {verifier}}

	bad := url.Values{}
	for k, v := range good {
		bad[k] = v
	}
	bad.Set("code_verifier", "wrong-verifier-wrong-verifier-wrong-verifier-0")
	if status, body := redeem(t, base, bad); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("wrong verifier: %d %v", status, body)
	}
	// The failed attempt used the code up.
	if status, body := redeem(t, base, good); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("code reused after a failed redemption: %d %v", status, body)
	}

	code = signIn(t, base, authorizeParams()).Query().Get("code")
	good.Set("code", code)
	status, body := redeem(t, base, good)
	if status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, body)
	}
	p, err := validator(t, base, nil).Validate(context.Background(), body["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != aliceObject || p.Name != "alice@contoso.com" || p.AppOnly || p.AppID != appClient || len(p.Groups) != 1 {
		t.Errorf("principal = %+v", p)
	}
	if body["id_token"] == "" {
		t.Error("no id_token")
	}
	if status, _ := redeem(t, base, good); status != http.StatusBadRequest {
		t.Error("a code was redeemed twice")
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	_, base := start(t, withApp)
	tests := []struct {
		name      string
		change    func(url.Values)
		wantPage  bool   // the error is shown, never redirected
		wantError string // else the error parameter of the redirect
	}{
		{name: "unknown client", change: func(v url.Values) { v.Set("client_id", spClient) }, wantPage: true},
		{name: "foreign redirect", change: func(v url.Values) { v.Set("redirect_uri", "https://attacker.example/cb") }, wantPage: true},
		{name: "no PKCE", change: func(v url.Values) { v.Del("code_challenge") }, wantError: "invalid_request"},
		{name: "plain PKCE", change: func(v url.Values) { v.Set("code_challenge_method", "plain") }, wantError: "invalid_request"},
		{name: "implicit flow", change: func(v url.Values) { v.Set("response_type", "token") }, wantError: "unsupported_response_type"},
		{name: "no resource", change: func(v url.Values) { v.Set("scope", "openid") }, wantError: "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := authorizeParams()
			tt.change(p)
			resp, err := noRedirect.Get(base + AuthorizePath + "?" + p.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tt.wantPage {
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("status %d, want 400 page", resp.StatusCode)
				}
				return
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != tt.wantError {
				t.Fatalf("status %d location %s, want error %s", resp.StatusCode, loc, tt.wantError)
			}
		})
	}
}
