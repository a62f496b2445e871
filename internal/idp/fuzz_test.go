package idp

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzAuthorize sends arbitrary query strings to the authorization
// endpoint: it never panics, and it never redirects anywhere but a
// registered redirect URI (an open redirect would hand codes or errors to
// another site).
func FuzzAuthorize(f *testing.F) {
	iss, err := New(Options{TenantID: tenant, Key: testKey(),
		Identities: []Identity{{Name: "studio", ClientID: appClient, ObjectID: "o", RedirectURIs: []string{appRedirect}}},
		Users:      []User{{Name: "Alice", UPN: "alice@contoso.com", ObjectID: aliceObject}}})
	if err != nil {
		f.Fatal(err)
	}
	h := iss.Handler()
	f.Add(authorizeParams().Encode(), "")
	f.Add("client_id="+appClient+"&redirect_uri=https://evil.example/&response_type=code", "user="+aliceObject)
	f.Add("client_id="+appClient+"&redirect_uri="+url.QueryEscape(appRedirect)+"&response_type=token", "")
	f.Add("%zz&&==", "user=%")
	f.Fuzz(func(t *testing.T, query, form string) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			r := httptest.NewRequest(method, AuthorizePath, strings.NewReader(form))
			r.URL.RawQuery = query
			if method == http.MethodPost {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if loc := rec.Header().Get("Location"); loc != "" && !strings.HasPrefix(loc, appRedirect+"?") {
				t.Fatalf("%s %q redirected to %q", method, query, loc)
			}
		}
	})
}
