package studio_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/proctest"
)

// TestSessionsSharedByReplicas runs two moat processes with
// management.studio.sessions: redis on one Redis: a key sign-in on one
// replica is a session on the other, and signing out on the other ends
// it on both.
func TestSessionsSharedByReplicas(t *testing.T) {
	rds := proctest.StartRedis(t)
	const key = "replica-key-0123456789abcdef0123456789"
	start := func() string {
		data, mgmt := proctest.FreeAddr(t), proctest.FreeAddr(t)
		proctest.StartMoat(t, proctest.MoatConfig{Mgmt: mgmt, YAML: fmt.Sprintf(`data_dir: %s
listeners: [{name: data, address: '%s', kind: private_endpoint}]
management:
  listeners: [{name: mgmt, address: '%s', kind: private_endpoint}]
  studio: {sessions: redis}
rate_limits:
  redis: {address: '%s'}
upstreams: [{name: sim, type: simulator}]
deployments: [{name: gpt-4o-mini, upstreams: [{upstream: sim}]}]
auth:
  pepper: 'a-pepper-shared-by-the-replicas'
  keys: [{name: ops, key: '%s'}]
`, t.TempDir(), data, mgmt, rds.Addr, key)})
		return "http://" + mgmt
	}
	a, b := start(), start()
	c := browser(t) // cookies ignore the port: both replicas get the session cookie

	req, _ := http.NewRequest(http.MethodPost, a+"/studio/api/login/key", strings.NewReader(`{"key":"`+key+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Moat-Request", "1")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("key sign-in on replica A: %d", resp.StatusCode)
	}
	v := getSession(t, c, b)
	if !v.SignedIn || v.AuthType != "key" || !strings.HasPrefix(v.Principal, "ops") {
		t.Fatalf("replica B does not see the session: %+v", v)
	}
	u, _ := url.Parse(a)
	var stolen string
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "moat_studio" {
			stolen = ck.Value
		}
	}
	req, _ = http.NewRequest(http.MethodPost, b+"/studio/api/logout", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Moat-Request", "1")
	req.Header.Set("X-CSRF-Token", v.CSRF)
	if resp, err = c.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("sign-out on replica B: %d", resp.StatusCode)
	}
	// The session is gone from the store: a copy of the cookie replayed
	// on replica A is refused.
	req, _ = http.NewRequest(http.MethodGet, a+"/studio/api/deployments", nil)
	req.AddCookie(&http.Cookie{Name: "moat_studio", Value: stolen})
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if stolen == "" || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("replayed cookie (%d chars) after sign-out on B: %d, want 401", len(stolen), resp.StatusCode)
	}
}
