package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/proctest"
)

// attackerPage is a hostile page on another origin. It tries what issue 17
// found working against development mode: text/plain POSTs (no preflight)
// that create a key and a role assignment, a classic form POST with a
// text/plain body shaped as JSON, and a JSON fetch with moat's request
// header (which needs a preflight moat never grants).
const attackerPage = `<!doctype html><html><body>
<pre id="results"></pre>
<iframe name="sink" id="sink"></iframe>
<form id="f" method="POST" enctype="text/plain" target="sink" action="MGMT/admin/keys">
<input name='{"name":"pwned-form","owner":"' value='x"}'></form>
<script>
const m = 'MGMT', seen = {};
async function attempt(name, fn) {
  try { const r = await fn(); seen[name] = 'sent ' + r.type; } catch (e) { seen[name] = 'blocked'; }
}
(async () => {
  await attempt('no-cors key', () => fetch(m + '/admin/keys', {method: 'POST', mode: 'no-cors',
    headers: {'Content-Type': 'text/plain'}, body: '{"name":"pwned-fetch"}'}));
  await attempt('no-cors assignment', () => fetch(m + '/admin/roles/assignments', {method: 'POST', mode: 'no-cors',
    headers: {'Content-Type': 'text/plain'}, body: '{"role":"Moat Administrator","principal":"key:pwned"}'}));
  await attempt('cors json', () => fetch(m + '/admin/keys', {method: 'POST',
    headers: {'Content-Type': 'application/json', 'X-Moat-Request': '1'}, body: '{"name":"pwned-cors"}'}));
  document.getElementById('sink').onload = () => {
    seen['form'] = 'submitted';
    document.getElementById('results').textContent = JSON.stringify(seen);
    document.body.dataset.done = '1';
  };
  document.getElementById('f').submit();
})();
</script></body></html>`

// TestCSRFFromBrowser opens attackerPage in Chromium against moat in
// development mode (auth disabled) and checks that every attempt reached
// moat and was refused, and that no key or role assignment exists
// afterwards, though a legitimate JSON request with X-Moat-Request does
// create one. It also sends a DNS-rebinding-style request, with a foreign
// Host header, which is refused. Needs node, chromium and make node-deps:
// skips locally without them, fails under CI.
func TestCSRFFromBrowser(t *testing.T) {
	dir, node, chromium := proctest.Browser(t, filepath.Join("..", ".."))

	ts := startServer(t, "") // development mode: auth disabled, loopback listeners
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, strings.ReplaceAll(attackerPage, "MGMT", ts.mgmtURL))
	}))
	defer attacker.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "csrf.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CSRF_PAGE_URL="+attacker.URL+"/", "MGMT_ORIGIN="+ts.mgmtURL, "CHROMIUM_PATH="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("browser test failed: %v", err)
	}
	var result struct {
		Seen    map[string]string
		Answers []struct {
			Method, URL string
			Status      int
		}
	}
	_, line, ok := strings.Cut(string(out), "CSRF_RESULT ")
	if !ok {
		t.Fatal("no CSRF_RESULT line")
	}
	line, _, _ = strings.Cut(line, "\n")
	if err := json.Unmarshal([]byte(line), &result); err != nil {
		t.Fatal(err)
	}
	if result.Seen["cors json"] != "blocked" {
		t.Errorf("the preflighted JSON fetch was not blocked: %q", result.Seen["cors json"])
	}
	refused := 0
	for _, a := range result.Answers {
		if a.Method == "POST" {
			if a.Status != http.StatusUnsupportedMediaType {
				t.Errorf("%s %s answered %d, want 415", a.Method, a.URL, a.Status)
			}
			refused++
		}
	}
	if refused != 3 { // two fetches and the form; the preflighted fetch never sends its POST
		t.Errorf("%d POSTs reached moat, want 3: %+v", refused, result.Answers)
	}

	// DNS rebinding: a page on attacker.example resolved to 127.0.0.1 sends
	// its own name as Host; with moat's header and JSON it is still refused.
	for _, method := range []string{"GET", "POST"} {
		req, err := http.NewRequest(method, ts.mgmtURL+"/admin/keys", strings.NewReader(`{"name":"pwned-rebind"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "attacker.example:80"
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Moat-Request", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "management.allowed_hosts") {
			t.Errorf("%s with a foreign Host: %d %s", method, resp.StatusCode, body)
		}
	}

	// Control: a legitimate client in development mode does create a key.
	if status, _, body := do(t, "POST", ts.mgmtURL+"/admin/keys", `{"name":"legit"}`, "X-Moat-Request", "1"); status != http.StatusCreated {
		t.Fatalf("legitimate create: %d %s", status, body)
	}
	_, _, keys := do(t, "GET", ts.mgmtURL+"/admin/keys", "")
	_, _, assignments := do(t, "GET", ts.mgmtURL+"/admin/roles/assignments", "")
	if strings.Contains(keys, "pwned") || !strings.Contains(keys, "legit") || strings.Contains(assignments, "pwned") {
		t.Fatalf("keys %s\nassignments %s", keys, assignments)
	}
}
