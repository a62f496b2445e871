package admin_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/admin"
	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/rbac"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

// fixture is the admin API over a real SQLite store, with a stand-in for
// the gateway's Authorize: the X-Test-Actor header names the caller, who
// holds the data actions listed in grants.
type fixture struct {
	srv   *httptest.Server
	path  string
	store *sqlitestore.Store
	logs  *bytes.Buffer
	now   time.Time
}

var grants = map[string][]string{
	"admin@contoso.com":  {"Moat/*"},
	"reader@contoso.com": {rbac.DataActionKeysRead, admin.DataActionRolesRead},
}

func testAuthorize(r *http.Request, action string) (string, error) {
	actor := r.Header.Get("X-Test-Actor")
	if actor == "boom" {
		return "", errors.New("authorizer exploded")
	}
	for _, g := range grants[actor] {
		if rbac.MatchDataAction(g, action) {
			return actor, nil
		}
	}
	if actor == "" {
		actor = "anonymous"
	}
	return "", rbac.DeniedError(actor, action, r.Pattern)
}

func newFixture(t *testing.T, tweak func(*admin.Options)) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "moat.db")
	st, err := sqlitestore.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{path: path, store: st, logs: &bytes.Buffer{}, now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	o := admin.Options{
		Keys: st, Assignments: st, Audit: st, Hasher: auth.NewHasher(nil),
		Now:       func() time.Time { return f.now },
		Logger:    slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Authorize: testAuthorize,
	}
	if tweak != nil {
		tweak(&o)
	}
	f.srv = httptest.NewServer(admin.New(o))
	t.Cleanup(f.srv.Close)
	return f
}

// call sends a request as actor and returns status, headers and the body.
func (f *fixture) call(t *testing.T, actor, method, path, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test-Actor", actor)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

const adminActor = "admin@contoso.com"

func TestKeysAPI(t *testing.T) {
	f := newFixture(t, nil)
	status, h, body := f.call(t, adminActor, "POST", "/admin/keys",
		`{"name":"ci","owner":"team","deployments":["gpt-4o*"],"operations":["chat"],"expires_at":"2030-01-01T00:00:00Z","limits":{"tpm":1000,"rpm":5}}`)
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	created := decode[admin.KeyView](t, body)
	if id, ok := auth.ParseKeyID(created.Key); !ok || id != created.ID || created.Status != "active" {
		t.Fatalf("create returned %+v", created)
	}
	if h.Get("Location") != "/admin/keys/"+created.ID || h.Get("Cache-Control") != "no-store" {
		t.Errorf("create headers: %v", h)
	}

	tests := []struct {
		name, actor, method, path, body string
		status                          int
		contains                        []string
		excludes                        []string
	}{
		{"list", "reader@contoso.com", "GET", "/admin/keys", "", 200, []string{`"value":[`, created.ID, `"limits":{"tpm":1000,"rpm":5}`}, []string{created.Key, `"key"`, "hash"}},
		{"get", "reader@contoso.com", "GET", "/admin/keys/" + created.ID, "", 200, []string{`"name":"ci"`, `"expires_at":"2030-01-01T00:00:00Z"`}, []string{created.Key}},
		{"get unknown", adminActor, "GET", "/admin/keys/ffffffffffff", "", 404, []string{`{"error":{"code":"NotFound","message": "key \"ffffffffffff\" not found"}}`}, nil},
		{"reader may not create", "reader@contoso.com", "POST", "/admin/keys", `{"name":"x"}`, 401,
			[]string{`"code":"PermissionDenied"`, "reader@contoso.com", "`Moat/keys/write`", "`POST /admin/keys`"}, nil},
		{"anonymous", "", "GET", "/admin/keys", "", 401, []string{"`anonymous`"}, nil},
		{"authorizer failure is a 500", "boom", "GET", "/admin/keys", "", 500, []string{`"code":"500"`}, []string{"exploded"}},
		{"invalid request", adminActor, "POST", "/admin/keys", `{"operations":["nope"],"limits":{"tpm":-5}}`, 400,
			[]string{`"code":"BadRequest"`, "name is required", `unknown operation \"nope\"`, "limits"}, nil},
		{"unknown field", adminActor, "POST", "/admin/keys", `{"name":"x","secret":"y"}`, 400, []string{`unknown field \"secret\"`}, nil},
		{"wrong type", adminActor, "POST", "/admin/keys", `{"name":"x","limits":{"tpm":"lots"}}`, 400, []string{`field \"limits.tpm\": want a number`}, nil},
		{"bad time", adminActor, "POST", "/admin/keys", `{"name":"x","expires_at":"tomorrow"}`, 400, []string{"RFC 3339"}, nil},
		{"empty body", adminActor, "POST", "/admin/keys", ``, 400, []string{"want a JSON object"}, nil},
		{"trailing data", adminActor, "POST", "/admin/keys", `{"name":"x"} {}`, 400, []string{"unexpected data"}, nil},
		{"huge body", adminActor, "POST", "/admin/keys", `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, 400, []string{"larger than"}, nil},
		{"unknown route", adminActor, "GET", "/admin/nothing", "", 404, []string{`{"error":{"code":"404","message": "Resource not found"}}`}, nil},
		{"revoke body must be empty or {}", adminActor, "POST", "/admin/keys/" + created.ID + "/revoke", `{"now":true}`, 400, []string{"unknown field"}, nil},
		{"regenerate negative grace", adminActor, "POST", "/admin/keys/" + created.ID + "/regenerate", `{"revoke_old_after":-3}`, 400, []string{"revoke_old_after"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := f.call(t, tt.actor, tt.method, tt.path, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			for _, c := range tt.contains {
				if !strings.Contains(body, c) {
					t.Errorf("body %s lacks %s", body, c)
				}
			}
			for _, c := range tt.excludes {
				if strings.Contains(body, c) {
					t.Errorf("body %s contains %s", body, c)
				}
			}
		})
	}

	status, _, body = f.call(t, adminActor, "POST", "/admin/keys/"+created.ID+"/regenerate", `{"revoke_old_after":300}`)
	if status != 201 {
		t.Fatalf("regenerate: %d %s", status, body)
	}
	rg := decode[admin.KeyView](t, body)
	if rg.Replaces != created.ID || rg.ID == created.ID || rg.Key == "" || rg.Key == created.Key {
		t.Errorf("regenerate returned %+v", rg)
	}
	_, _, body = f.call(t, adminActor, "GET", "/admin/keys/"+created.ID, "")
	if old := decode[admin.KeyView](t, body); old.Status != "revoking" || !old.RevokedAt.Equal(f.now.Add(5*time.Minute)) {
		t.Errorf("old key after regenerate: %+v", old)
	}
	status, _, body = f.call(t, adminActor, "POST", "/admin/keys/"+created.ID+"/revoke", "")
	if revoked := decode[admin.KeyView](t, body); status != 200 || revoked.Status != "revoked" {
		t.Errorf("revoke: %d %+v", status, revoked)
	}

	status, _, body = f.call(t, adminActor, "GET", "/admin/audit?after=1&limit=5", "")
	if status != 200 || strings.Count(body, `"seq":`) != 2 || !strings.Contains(body, `"action":"key.revoke"`) {
		t.Errorf("audit page: %d %s", status, body)
	}
	if strings.Contains(body, created.Key) || strings.Contains(body, rg.Key) {
		t.Error("audit rows hold a plaintext key")
	}
	for _, p := range []string{"/admin/audit?after=x", "/admin/audit?limit=0", "/admin/audit?limit=5000", "/admin/audit?after=-1"} {
		if status, _, body := f.call(t, adminActor, "GET", p, ""); status != 400 {
			t.Errorf("GET %s: %d %s", p, status, body)
		}
	}
	status, _, body = f.call(t, adminActor, "GET", "/admin/audit/verify", "")
	if rep := decode[admin.AuditReport](t, body); status != 200 || !rep.OK || rep.Entries != 3 || rep.HeadSeq != 3 {
		t.Errorf("verify: %d %s", status, body)
	}
	for _, k := range []string{created.Key, rg.Key} {
		if strings.Contains(f.logs.String(), k) {
			t.Errorf("log holds a plaintext key:\n%s", f.logs)
		}
	}
}

func TestRolesAPI(t *testing.T) {
	f := newFixture(t, func(o *admin.Options) {
		o.Roles = []rbac.RoleDefinition{{Name: "Chat Only", DataActions: []string{"Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action"}}}
	})
	status, _, body := f.call(t, "reader@contoso.com", "GET", "/admin/roles/definitions", "")
	defs := decode[struct{ Value []admin.RoleView }](t, body)
	if status != 200 || len(defs.Value) != len(rbac.BuiltinRoles())+1 || !defs.Value[0].Builtin || defs.Value[len(defs.Value)-1].Builtin {
		t.Fatalf("definitions: %d %s", status, body)
	}
	status, h, body := f.call(t, adminActor, "POST", "/admin/roles/assignments", `{"role":"chat only","principal":"client:abc","scope":"/deployments/gpt-4o"}`)
	if status != 201 {
		t.Fatalf("assign: %d %s", status, body)
	}
	a := decode[admin.AssignmentView](t, body)
	if a.Role != "Chat Only" || a.CreatedBy != adminActor || h.Get("Location") != "/admin/roles/assignments/"+a.ID {
		t.Errorf("assignment %+v", a)
	}
	tests := []struct {
		name, actor, method, path, body string
		status                          int
		contains                        string
	}{
		{"list", "reader@contoso.com", "GET", "/admin/roles/assignments", "", 200, a.ID},
		{"duplicate", adminActor, "POST", "/admin/roles/assignments", `{"role":"Chat Only","principal":"client:ABC","scope":"/deployments/gpt-4o"}`, 409, `"code":"RoleAssignmentExists"`},
		{"invalid", adminActor, "POST", "/admin/roles/assignments", `{"role":"Owner","principal":"nobody","scope":"/x"}`, 400, `unknown role \"Owner\"`},
		{"reader may not assign", "reader@contoso.com", "POST", "/admin/roles/assignments", `{}`, 401, "`Moat/roles/write`"},
		{"reader may not read audit", "reader@contoso.com", "GET", "/admin/audit", "", 401, "`Moat/audit/read`"},
		{"remove", adminActor, "DELETE", "/admin/roles/assignments/" + a.ID, "", 200, a.ID},
		{"remove again", adminActor, "DELETE", "/admin/roles/assignments/" + a.ID, "", 404, `"code":"NotFound"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := f.call(t, tt.actor, tt.method, tt.path, tt.body)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("status %d body %s; want %d containing %s", status, body, tt.status, tt.contains)
			}
		})
	}
	_, _, body = f.call(t, adminActor, "GET", "/admin/audit", "")
	if !strings.Contains(body, `"client_ip":"127.0.0.1"`) || strings.Count(body, `"seq":`) != 2 {
		t.Errorf("audit after assign and remove: %s", body)
	}
}

func TestNewMisconfigured(t *testing.T) {
	tests := []struct {
		name string
		o    admin.Options
	}{
		{"no stores", admin.Options{Authorize: testAuthorize}},
		{"bad custom role", admin.Options{Roles: []rbac.RoleDefinition{{Name: ""}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := admin.NewService(tt.o); err == nil {
				t.Error("NewService accepted the options")
			}
			rec := httptest.NewRecorder()
			admin.New(tt.o).ServeHTTP(rec, httptest.NewRequest("GET", "/admin/keys", nil))
			if rec.Code != 500 {
				t.Errorf("status %d, want 500", rec.Code)
			}
		})
	}
}

func TestNoAuthorizerRefuses(t *testing.T) {
	f := newFixture(t, func(o *admin.Options) { o.Authorize = nil })
	status, _, body := f.call(t, adminActor, "GET", "/admin/keys", "")
	if status != 401 || !strings.Contains(body, "PermissionDenied") {
		t.Errorf("without Authorize: %d %s", status, body)
	}
}

// TestAuditTampered edits a row behind the API's back: verify names it and
// the listing still renders the row.
func TestAuditTampered(t *testing.T) {
	f := newFixture(t, nil)
	for _, name := range []string{"a", "b", "c"} {
		if status, _, body := f.call(t, adminActor, "POST", "/admin/keys", `{"name":"`+name+`"}`); status != 201 {
			t.Fatalf("create: %d %s", status, body)
		}
	}
	db, err := sql.Open("sqlite", f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"DROP TRIGGER audit_log_no_update", "UPDATE audit_log SET details = 'not json' WHERE seq = 2"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	status, _, body := f.call(t, adminActor, "GET", "/admin/audit/verify", "")
	rep := decode[admin.AuditReport](t, body)
	if status != 200 || rep.OK || rep.BrokenSeq != 2 || rep.Entries != 1 || !strings.Contains(rep.Problem, "edited") {
		t.Errorf("verify after tampering: %d %s", status, body)
	}
	status, _, body = f.call(t, adminActor, "GET", "/admin/audit", "")
	if status != 200 || !strings.Contains(body, `"details":"not json"`) {
		t.Errorf("listing a tampered row: %d %s", status, body)
	}
}
