package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
)

// TestStudioPublicListener serves the management plane on a public
// listener too (management.allow_public): the studio answers 403 there
// until management.studio.allow_public, and 200 on the private listener
// all along. The rest of the management plane is unaffected.
func TestStudioPublicListener(t *testing.T) {
	cfg := func(allow bool) string {
		a := "false"
		if allow {
			a = "true"
		}
		return `
listeners: [{name: data, address: '127.0.0.1:0'}]
management:
  listeners:
    - {name: mgmt, address: '127.0.0.1:0', kind: private_endpoint}
    - {name: exposed, address: '127.0.0.1:0', kind: public}
  allow_public: true
  studio: {allow_public: ` + a + `}
network: {public_network_access: enabled}
`
	}
	ts := startServer(t, cfg(false))
	public := "http://" + ts.Addr("exposed")
	tests := []struct {
		name, url string
		want      int
		wantBody  string
	}{
		{name: "private studio", url: ts.mgmtURL + "/studio/", want: http.StatusOK},
		{name: "public studio page", url: public + "/studio/", want: http.StatusForbidden, wantBody: "not served on public listeners"},
		{name: "public studio API", url: public + "/studio/api/session", want: http.StatusForbidden},
		{name: "public readyz", url: public + "/readyz", want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := do(t, "GET", tt.url, "")
			if status != tt.want || !strings.Contains(body, tt.wantBody) {
				t.Errorf("GET %s = %d %.200s, want %d", tt.url, status, body, tt.want)
			}
		})
	}
	ts.reload(cfg(true))
	if status, _, body := do(t, "GET", public+"/studio/api/session", ""); status != http.StatusOK {
		t.Errorf("with studio.allow_public: %d %s", status, body)
	}
}

// TestStudioAnonymous: with auth disabled the studio asks for nothing and
// its playground calls go through the pipeline and into the request log.
func TestStudioAnonymous(t *testing.T) {
	ts := startServer(t, "")
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(ts.mgmtURL + "/studio/api/session")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		SignedIn, Anonymous bool
		Methods             []string
		CSRF                string
	}
	err = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if err != nil || !v.Anonymous || len(v.Methods) != 0 || v.CSRF == "" {
		t.Fatalf("session %+v %v", v, err)
	}
	resp, err = c.Get(ts.mgmtURL + "/studio/api/deployments")
	if err != nil {
		t.Fatal(err)
	}
	var deps struct {
		Value []struct {
			Name    string
			Allowed bool
		}
	}
	_ = json.NewDecoder(resp.Body).Decode(&deps)
	resp.Body.Close()
	if len(deps.Value) == 0 || !deps.Value[0].Allowed {
		t.Fatalf("deployments %+v", deps)
	}
	req, _ := http.NewRequest("POST", ts.mgmtURL+"/studio/api/chat/"+deps.Value[0].Name,
		strings.NewReader(`{"messages":[{"role":"user","content":"hi"}],"stream":true}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Moat-Request", "1")
	req.Header.Set("X-CSRF-Token", v.CSRF)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("playground call: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	recs := ts.records()
	if len(recs) != 1 || !recs[0].Streamed || recs[0].Listener != "data" || recs[0].Deployment != deps.Value[0].Name {
		t.Fatalf("records %+v", recs)
	}
}
