package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const adminKey = "admin-key-admin-key-admin-key-0001"

func adminConfig() string {
	return fmt.Sprintf(`
auth:
  keys: [{name: ops, key: %s}]
  assignments: [{role: Moat Administrator, principal: 'key:ops'}]
`, adminKey)
}

type keyView struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

func createKey(t *testing.T, ts *testServer, body string) keyView {
	t.Helper()
	status, _, out := do(t, "POST", ts.mgmtURL+"/admin/keys", body, "api-key", adminKey)
	if status != 201 {
		t.Fatalf("create key: %d %s", status, out)
	}
	var k keyView
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.Key == "" {
		t.Fatalf("create key: %v %s", err, out)
	}
	return k
}

// TestAdminKeyLifecycle: keys made over the admin API work at once, a key
// revoked mid-traffic is refused from the next call, the admin API itself
// needs a Moat role, and no key ever reaches the request log or audit rows.
func TestAdminKeyLifecycle(t *testing.T) {
	ts := startServer(t, adminConfig())
	url := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"

	// Inference keys (key bypass) carry no Moat/* actions.
	plain := createKey(t, ts, `{"name":"app"}`)
	if status, _, body := do(t, "GET", ts.mgmtURL+"/admin/keys", "", "api-key", plain.Key); status != 401 || !strings.Contains(body, "PermissionDenied") {
		t.Fatalf("an inference key read the admin API: %d %s", status, body)
	}
	if status, _, _ := do(t, "GET", ts.mgmtURL+"/admin/keys", ""); status != 401 {
		t.Fatalf("anonymous admin call: %d", status)
	}

	var ok, refused atomic.Int32
	var revokedAt atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			sent := time.Now().UnixNano()
			status, _, body := do(t, "POST", url, chatBody, "api-key", plain.Key)
			switch {
			case status == 200:
				if r := revokedAt.Load(); r != 0 && sent > r {
					t.Errorf("call sent after the revocation succeeded")
				}
				ok.Add(1)
			case status == 401 && body == bodyBadKey:
				refused.Add(1)
			default:
				t.Errorf("unexpected %d %s", status, body)
			}
		}
	}()
	for ok.Load() < 5 {
		time.Sleep(time.Millisecond)
	}
	if status, _, body := do(t, "POST", ts.mgmtURL+"/admin/keys/"+plain.ID+"/revoke", "", "api-key", adminKey); status != 200 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	revokedAt.Store(time.Now().UnixNano())
	for refused.Load() < 5 {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()

	status, _, body := do(t, "GET", ts.mgmtURL+"/admin/audit/verify", "", "api-key", adminKey)
	if status != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("audit verify: %d %s", status, body)
	}
	_, _, audit := do(t, "GET", ts.mgmtURL+"/admin/audit", "", "api-key", adminKey)
	for _, secret := range []string{plain.Key, adminKey} {
		if strings.Contains(audit, secret) {
			t.Fatal("a key reached the audit log")
		}
	}
	for _, r := range ts.records() {
		if strings.Contains(fmt.Sprintf("%+v", r), plain.Key) {
			t.Fatal("a key reached the request log")
		}
	}
}

// TestKeyRotationZeroFailures: regenerate hands out a new key while the old
// one keeps working for the grace period, so clients switching over see no
// failed call; after the grace the old key is refused.
func TestKeyRotationZeroFailures(t *testing.T) {
	clk := newClock()
	ts := startServerOpts(t, adminConfig(), Options{Now: clk.Now})
	url := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
	old := createKey(t, ts, `{"name":"app","deployments":["gpt-4o-mini"]}`)

	var current atomic.Value
	current.Store(old.Key)
	var calls, failed atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if status, _, _ := do(t, "POST", url, chatBody, "api-key", current.Load().(string)); status != 200 {
					failed.Add(1)
				}
				calls.Add(1)
			}
		}()
	}
	for calls.Load() < 20 {
		time.Sleep(time.Millisecond)
	}
	status, _, body := do(t, "POST", ts.mgmtURL+"/admin/keys/"+old.ID+"/regenerate", `{"revoke_old_after":60}`, "api-key", adminKey)
	if status != 200 && status != 201 {
		t.Fatalf("regenerate: %d %s", status, body)
	}
	var fresh keyView
	_ = json.Unmarshal([]byte(body), &fresh)
	if fresh.Key == "" || fresh.ID == old.ID {
		t.Fatalf("regenerate gave %s", body)
	}
	n := calls.Load()
	for calls.Load() < n+20 { // clients still on the old key during the grace period
		time.Sleep(time.Millisecond)
	}
	current.Store(fresh.Key)
	n = calls.Load()
	for calls.Load() < n+20 {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d calls failed during rotation", failed.Load(), calls.Load())
	}
	clk.Add(61 * time.Second)
	time.Sleep(10 * time.Millisecond)
	if status, _, _ := do(t, "POST", url, chatBody, "api-key", old.Key); status != 401 {
		t.Fatalf("old key after the grace period: %d", status)
	}
	if status, _, _ := do(t, "POST", url, chatBody, "api-key", fresh.Key); status != 200 {
		t.Fatalf("new key: %d", status)
	}
}

// TestStoredRoleAssignment: an assignment made over the admin API grants a
// keyless identity access at once.
func TestStoredRoleAssignment(t *testing.T) {
	issuer := startIssuer(t)
	ts := startServer(t, adminConfig()+fmt.Sprintf(`
  issuers: [{name: local, tenant_id: %s, discovery_url: '%s/.well-known/openid-configuration'}]
`, testTenant, issuer))
	url := ts.url + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
	tok := mintToken(t, issuer)
	if status, _, _ := do(t, "POST", url, chatBody, "Authorization", "Bearer "+tok); status != 401 {
		t.Fatalf("before the assignment: %d", status)
	}
	status, _, body := do(t, "POST", ts.mgmtURL+"/admin/roles/assignments",
		fmt.Sprintf(`{"role":"Cognitive Services OpenAI User","principal":"object:%s","scope":"/deployments/gpt-4o"}`, vmObject), "api-key", adminKey)
	if status != 201 {
		t.Fatalf("assign: %d %s", status, body)
	}
	if status, _, body := do(t, "POST", url, chatBody, "Authorization", "Bearer "+tok); status != 200 {
		t.Fatalf("after the assignment: %d %s", status, body)
	}
}
