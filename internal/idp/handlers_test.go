package idp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestClientCredentials(t *testing.T) {
	_, base := start(t, nil)
	post := func(form url.Values) (*http.Response, map[string]any) {
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
		return resp, body
	}
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {spClient}, "client_secret": {spSecret}, "scope": {scope}}
	resp, body := post(good)
	if resp.StatusCode != http.StatusOK || body["token_type"] != "Bearer" {
		t.Fatalf("token endpoint: %d %v", resp.StatusCode, body)
	}
	p, err := validator(t, base, nil).Validate(context.Background(), body["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != spObject || p.AppID != spClient {
		t.Errorf("principal = %+v", p)
	}
	tests := []struct {
		name       string
		change     func(url.Values)
		wantStatus int
		wantError  string
	}{
		{name: "wrong secret", change: func(v url.Values) { v.Set("client_secret", "nope") }, wantStatus: 401, wantError: "invalid_client"},
		{name: "unknown client", change: func(v url.Values) { v.Set("client_id", "nobody") }, wantStatus: 400, wantError: "unauthorized_client"},
		{name: "managed identity has no secret", change: func(v url.Values) { v.Set("client_id", sysClient); v.Set("client_secret", "") }, wantStatus: 400, wantError: "unauthorized_client"},
		{name: "scope without .default", change: func(v url.Values) { v.Set("scope", "https://cognitiveservices.azure.com") }, wantStatus: 400, wantError: "invalid_scope"},
		{name: "other grant", change: func(v url.Values) { v.Set("grant_type", "password") }, wantStatus: 400, wantError: "unsupported_grant_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{}
			for k, v := range good {
				form[k] = append([]string(nil), v...)
			}
			tt.change(form)
			resp, body := post(form)
			if resp.StatusCode != tt.wantStatus || body["error"] != tt.wantError {
				t.Errorf("got %d %v, want %d %s", resp.StatusCode, body["error"], tt.wantStatus, tt.wantError)
			}
		})
	}
}

func TestMSIEndpoint(t *testing.T) {
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	_, base := start(t, func(o *Options) { o.Now = func() time.Time { return clock } })
	get := func(query string, hdr string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+MSIPath+"?"+query, nil)
		if hdr != "" {
			req.Header.Set("X-IDENTITY-HEADER", hdr)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	status, body := get("api-version=2019-08-01&resource=https://cognitiveservices.azure.com", header)
	if status != 200 {
		t.Fatalf("status %d: %v", status, body)
	}
	delete(body, "access_token")
	want := map[string]any{"expires_on": "1772370000", "resource": "https://cognitiveservices.azure.com", "token_type": "Bearer", "client_id": sysClient}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	tests := []struct {
		name, query, header string
		want                int
	}{
		{name: "no header", query: "api-version=2019-08-01&resource=r", want: 401},
		{name: "wrong header", query: "api-version=2019-08-01&resource=r", header: "wrong", want: 401},
		{name: "other api-version", query: "api-version=2018-02-01&resource=r", header: header, want: 400},
		{name: "no resource", query: "api-version=2019-08-01", header: header, want: 400},
		{name: "unknown client", query: "api-version=2019-08-01&resource=r&client_id=nobody", header: header, want: 400},
		{name: "service principal is not managed", query: "api-version=2019-08-01&resource=r&client_id=" + spClient, header: header, want: 400},
		{name: "principal_id", query: "api-version=2019-08-01&resource=r&principal_id=" + userObject, header: header, want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, body := get(tt.query, tt.header); status != tt.want {
				t.Errorf("status %d (%v), want %d", status, body, tt.want)
			}
		})
	}
}
