package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/cli"
	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/gateway"
)

// cannedStatus is a /status answer with a benched member, an open breaker
// and a healthy one, as a running moat writes it.
const cannedStatus = `{"ready":true,"upstreams":[` +
	`{"deployment":"chat","upstream":"ptu-east","state":"closed","available":false,"priority":1,"weight":1,"benched_until":"2026-11-22T12:00:06Z","consecutive_failures":0,"remaining_tokens":0},` +
	`{"deployment":"chat","upstream":"payg-west","state":"open","available":false,"priority":2,"weight":3,"open_until":"2026-11-22T12:00:30Z","consecutive_failures":5,"remaining_tokens":-1},` +
	`{"deployment":"embed","upstream":"payg-west","state":"closed","available":true,"priority":1,"weight":1,"consecutive_failures":0,"remaining_tokens":120000}` +
	`],"version":"1.4.0"}` + "\n"

// statusServer serves body on GET /status and records the api-key it got.
func statusServer(t *testing.T, code int, body string) (*httptest.Server, *string) {
	t.Helper()
	var gotKey string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		gotKey = r.Header.Get("Api-Key")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &gotKey
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = cli.Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestStatus(t *testing.T) {
	ok, _ := statusServer(t, http.StatusOK, cannedStatus)
	addr := strings.TrimPrefix(ok.URL, "http://")
	denied, _ := statusServer(t, http.StatusForbidden, `{"error":{"code":"403","message": "Access denied due to Virtual Network/Firewall rules."}}`)
	garbage, _ := statusServer(t, http.StatusOK, `<html>not moat</html>`)
	empty, _ := statusServer(t, http.StatusOK, `{"version":"dev","ready":false,"upstreams":null}`)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string // substring
	}{
		{
			name: "table",
			args: []string{"status", "--addr", addr},
			wantStdout: "moat 1.4.0: ready\n" +
				"DEPLOYMENT  UPSTREAM   PRIORITY  WEIGHT  STATE   AVAILABLE  BENCHED/OPEN UNTIL            FAILURES\n" +
				"chat        ptu-east   1         1       closed  false      benched 2026-11-22T12:00:06Z  0\n" +
				"chat        payg-west  2         3       open    false      open 2026-11-22T12:00:30Z     5\n" +
				"embed       payg-west  1         1       closed  true       -                             0\n",
		},
		{
			name:       "json is passed through",
			args:       []string{"status", "--addr", addr, "--json"},
			wantStdout: cannedStatus,
		},
		{
			name:       "base URL with a scheme",
			args:       []string{"status", "--json", "--addr", ok.URL + "/"},
			wantStdout: cannedStatus,
		},
		{
			name:       "draining, no deployments",
			args:       []string{"status", "--addr", empty.URL},
			wantStdout: "moat dev: not ready (draining)\nno deployments configured\n",
		},
		{
			name:       "refused by the network rules",
			args:       []string{"status", "--addr", denied.URL},
			wantCode:   1,
			wantStderr: "403 Forbidden: {\"error\":{\"code\":\"403\",\"message\": \"Access denied due to Virtual Network/Firewall rules.\"}}",
		},
		{
			name:       "not a status answer",
			args:       []string{"status", "--addr", garbage.URL},
			wantCode:   1,
			wantStderr: "not a moat status answer",
		},
		{
			name:       "nothing listening",
			args:       []string{"status", "--addr", "127.0.0.1:1"},
			wantCode:   1,
			wantStderr: `status: Get "http://127.0.0.1:1/status"`,
		},
		{
			name:       "unset key variable",
			args:       []string{"status", "--addr", addr, "--api-key-env", "MOAT_TEST_STATUS_KEY_UNSET"},
			wantCode:   1,
			wantStderr: "environment variable MOAT_TEST_STATUS_KEY_UNSET is empty or unset",
		},
		{
			name:       "stray argument",
			args:       []string{"status", "extra"},
			wantCode:   2,
			wantStderr: `unexpected argument "extra"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, stderr)
			}
			if tt.wantCode == 0 {
				if diff := cmp.Diff(tt.wantStdout, stdout); diff != "" {
					t.Errorf("stdout (-want +got):\n%s", diff)
				}
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr, tt.wantStderr)
			}
		})
	}
}

// TestStatusSendsKey: the key named by --api-key-env is sent as api-key and
// never printed, even when the call fails.
func TestStatusSendsKey(t *testing.T) {
	const secret = "status-test-key-0123456789abcdef"
	t.Setenv("MOAT_TEST_STATUS_KEY", secret)
	ok, gotKey := statusServer(t, http.StatusOK, cannedStatus)
	code, stdout, stderr := runCLI("status", "--addr", ok.URL, "--api-key-env", "MOAT_TEST_STATUS_KEY")
	if code != 0 || *gotKey != secret {
		t.Fatalf("exit %d, server got key %q; stderr: %s", code, *gotKey, stderr)
	}
	denied, _ := statusServer(t, http.StatusUnauthorized, `{"error":{"code":"401","message":"no"}}`)
	code, stdout2, stderr2 := runCLI("status", "--addr", denied.URL, "--api-key-env", "MOAT_TEST_STATUS_KEY")
	if code != 1 {
		t.Fatalf("exit %d on 401", code)
	}
	for _, s := range []string{stdout, stderr, stdout2, stderr2} {
		if strings.Contains(s, secret) {
			t.Fatalf("the key was printed: %q", s)
		}
	}
}

// TestStatusAgainstGateway runs the command against a real gateway's
// management listener: the built-in simulator deployments, all healthy.
func TestStatusAgainstGateway(t *testing.T) {
	cfg, err := config.Parse([]byte("auth: {disabled: true}\n" +
		"listeners: [{name: d, address: '127.0.0.1:0'}]\n" +
		"management: {listeners: [{name: m, address: '127.0.0.1:0', kind: private_endpoint}]}\n" +
		"data_dir: " + t.TempDir() + "\n" +
		"replica: {name: r1}\nshutdown: {pre_stop: 0s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	fp, err := gateway.Fingerprint(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := gateway.New(context.Background(), cfg, gateway.Options{Version: "test-build"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	// The first heartbeat is written in the background after Start.
	var code int
	var stdout, stderr string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if code, stdout, stderr = runCLI("status", "--addr", srv.Addr("m")); code != 0 || strings.Contains(stdout, "REPLICA") {
			break
		}
	}
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "moat test-build: ready\n" +
		"replica r1, config " + fp + "\n" +
		"DEPLOYMENT              UPSTREAM   PRIORITY  WEIGHT  STATE   AVAILABLE  BENCHED/OPEN UNTIL  FAILURES\n" +
		"gpt-4o                  simulator  1         1       closed  true       -                   0\n" +
		"gpt-4o-mini             simulator  1         1       closed  true       -                   0\n" +
		"text-embedding-3-small  simulator  1         1       closed  true       -                   0\n" +
		"\n" +
		"REPLICA  VERSION     STATE    STARTED               LAST SEEN  CONFIG            LIMITS  DRIFT\n"
	// The replicas table follows: this replica, serving, no drift.
	row := regexp.MustCompile(`^r1 +test-build +serving +\S+Z +\d+s ago +` + fp + ` +- +-\n$`)
	if !strings.HasPrefix(stdout, want) || !row.MatchString(strings.TrimPrefix(stdout, want)) {
		t.Errorf("stdout:\n%s", stdout)
	}
	if diff := cmp.Diff(want, stdout[:min(len(want), len(stdout))]); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	code, stdout, _ = runCLI("status", "--addr", srv.Addr("m"), "--json")
	if code != 0 || !strings.HasPrefix(stdout, `{"ready":true,"replica":{"name":"r1","fingerprint":"`+fp+`"`) ||
		!strings.Contains(stdout, `"upstreams":[{"deployment":"gpt-4o","upstream":"simulator","state":"closed"`) ||
		!strings.HasSuffix(stdout, `"version":"test-build"}`+"\n") {
		t.Fatalf("json: %d %s", code, stdout)
	}
}

// TestStatusFlagsDrift: replicas whose config or limits differ from the
// fleet's, or that went silent, are flagged, with a warning line.
func TestStatusFlagsDrift(t *testing.T) {
	seen := time.Now().UTC().Add(-2 * time.Second).Format(time.RFC3339Nano)
	old := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339Nano)
	row := func(name, fp, limits, state, last string, stale, cfg, lim bool) string {
		return fmt.Sprintf(`{"name":%q,"version":"v1","fingerprint":%q,"limits":%q,"state":%q,"started":%q,"last_seen":%q,"stale":%v,"config_differs":%v,"limits_differ":%v}`,
			name, fp, limits, state, old, last, stale, cfg, lim)
	}
	body := `{"version":"v1","ready":true,"upstreams":[],"replica":{"name":"a","fingerprint":"f1"},"replicas":[` +
		row("a", "f1", "team[key] tpm=20000", "serving", seen, false, false, false) + "," +
		row("b", "f2", "team[key] tpm=40000", "serving", seen, false, true, true) + "," +
		row("c", "f1", "team[key] tpm=20000", "serving", old, true, false, false) + `]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) }))
	defer srv.Close()
	code, stdout, stderr := runCLI("status", "--addr", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^a +v1 +serving .* f1 +team\[key\] tpm=20000 +-$`),
		regexp.MustCompile(`(?m)^b +v1 +serving .* f2 +team\[key\] tpm=40000 +config differs, limits differ$`),
		regexp.MustCompile(`(?m)^c +v1 +serving .* 1h0m\d+s ago .* stale$`),
		regexp.MustCompile(`(?m)^WARNING: 2 of 3 replicas drift from the fleet`),
	} {
		if !want.MatchString(stdout) {
			t.Errorf("output lacks %s:\n%s", want, stdout)
		}
	}
}
