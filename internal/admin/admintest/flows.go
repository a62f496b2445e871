package admintest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/admin"
	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/rbac"
)

var testHasher = auth.NewHasher([]byte("test pepper"))

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newService(tb testing.TB, s admin.Store, tweak func(*admin.Options)) *admin.Service {
	tb.Helper()
	o := admin.Options{Keys: s, Assignments: s, Audit: s, Hasher: testHasher, Now: (&clock{base()}).now}
	if tweak != nil {
		tweak(&o)
	}
	svc, err := admin.NewService(o)
	if err != nil {
		tb.Fatal(err)
	}
	return svc
}

func wantRequestError(tb testing.TB, err error, status int, contains ...string) {
	tb.Helper()
	var re *admin.RequestError
	if !errors.As(err, &re) || re.Status != status {
		tb.Fatalf("error %v, want a %d RequestError", err, status)
	}
	for _, c := range contains {
		if !strings.Contains(re.Message, c) {
			tb.Errorf("message %q does not mention %q", re.Message, c)
		}
	}
}

func actions(tb testing.TB, s admin.AuditLog) []string {
	tb.Helper()
	var out []string
	for _, e := range readAll(tb, s, 100) {
		out = append(out, e.Action+" "+e.Target)
	}
	return out
}

// testServiceKeyFlows drives create, scope, regenerate with a grace period
// (zero failed calls during rotation), revoke with immediate cache
// invalidation, and the audit trail, against the store.
func testServiceKeyFlows(t *testing.T, h Harness) {
	s, ctx := h.Open(t), context.Background()
	clk := &clock{base()}
	v, err := auth.NewKeyVerifier(auth.KeyVerifierOptions{Stores: []auth.KeyStore{s}, Hasher: testHasher, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	svc := newService(t, s, func(o *admin.Options) { o.Now, o.Invalidate = clk.now, v.Invalidate })
	alice := admin.Caller{Actor: "cli:alice"}

	_, err = svc.CreateKey(ctx, alice, admin.KeyRequest{Deployments: []string{"a b"}, Operations: []string{"dance"},
		ExpiresAt: new(base().Add(-time.Hour)), Limits: admin.Limits{TPM: -1}})
	wantRequestError(t, err, 400, "name is required", `"a b"`, `"dance"`, "expires_at", "limits")

	exp := base().Add(30 * 24 * time.Hour)
	nk, err := svc.CreateKey(ctx, alice, admin.KeyRequest{Name: "ci", Owner: "team", Deployments: []string{"gpt-4o*", "gpt-4o*"},
		Operations: []string{"Chat", "embeddings"}, ExpiresAt: &exp, Limits: admin.Limits{TPM: 1000, RPM: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := auth.ParseKeyID(nk.Plaintext); !ok || id != nk.Key.ID {
		t.Fatalf("plaintext does not carry ID %s", nk.Key.ID)
	}
	if diff := cmp.Diff([][]string{{"gpt-4o*"}, {"chat", "embeddings"}}, [][]string{nk.Key.Deployments, nk.Key.Operations}); diff != "" {
		t.Errorf("normalized scope (-want +got):\n%s", diff)
	}
	k, err := v.Verify(ctx, nk.Plaintext)
	if err != nil {
		t.Fatalf("new key does not verify: %v", err)
	}
	chat, _ := openai.OperationByName("chat")
	images, _ := openai.OperationByName("images")
	if k.Allows("gpt-4o-mini", chat.Name, clk.t) != nil || !errors.Is(k.Allows("gpt-4o", images.Name, clk.t), auth.ErrKeyScope) {
		t.Error("stored key's scope is not the requested one")
	}

	clk.t = base().Add(time.Minute)
	rg, err := svc.RegenerateKey(ctx, alice, nk.Key.ID, admin.RegenerateRequest{RevokeOldAfter: 600})
	if err != nil {
		t.Fatal(err)
	}
	if rg.New.Key.ID == nk.Key.ID || rg.New.Key.Name != "ci" || !rg.New.Key.ExpiresAt.Equal(clk.t.Add(30*24*time.Hour)) {
		t.Errorf("regenerated key %+v: want a new ID, the old scope and the old lifetime", rg.New.Key)
	}
	if !rg.Old.RevokedAt.Equal(clk.t.Add(10 * time.Minute)) {
		t.Errorf("old key revoked at %v, want after the 10m grace", rg.Old.RevokedAt)
	}
	for _, p := range []string{nk.Plaintext, rg.New.Plaintext} {
		if _, err := v.Verify(ctx, p); err != nil {
			t.Errorf("during the grace period a key fails: %v", err)
		}
	}
	clk.t = base().Add(11 * time.Minute)
	if _, err := v.Verify(ctx, nk.Plaintext); !errors.Is(err, auth.ErrKeyRevoked) {
		t.Errorf("old key after the grace period: %v, want ErrKeyRevoked", err)
	}
	_, err = svc.RegenerateKey(ctx, alice, nk.Key.ID, admin.RegenerateRequest{})
	wantRequestError(t, err, 409, "revoked")
	_, err = svc.RegenerateKey(ctx, alice, rg.New.Key.ID, admin.RegenerateRequest{RevokeOldAfter: -1})
	wantRequestError(t, err, 400, "revoke_old_after")

	// Revocation takes effect at once on this replica: Invalidate drops
	// the cached lookup although the clock has not moved.
	if _, err := v.Verify(ctx, rg.New.Plaintext); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RevokeKey(ctx, alice, rg.New.Key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, rg.New.Plaintext); !errors.Is(err, auth.ErrKeyRevoked) {
		t.Errorf("revoked key still verifies: %v", err)
	}
	_, err = svc.RevokeKey(ctx, alice, "ffffffffffff")
	wantRequestError(t, err, 404, "ffffffffffff")

	want := []string{"key.create " + nk.Key.ID, "key.regenerate " + nk.Key.ID, "key.revoke " + rg.New.Key.ID}
	if diff := cmp.Diff(want, actions(t, s)); diff != "" {
		t.Errorf("audit trail (-want +got):\n%s", diff)
	}
	if rep, err := svc.VerifyAudit(ctx); err != nil || !rep.OK || rep.Entries != 3 {
		t.Errorf("VerifyAudit = %+v, %v", rep, err)
	}
}

func testServiceRoleFlows(t *testing.T, h Harness) {
	s, ctx := h.Open(t), context.Background()
	changed := 0
	svc := newService(t, s, func(o *admin.Options) { o.AssignmentsChanged = func() { changed++ } })
	bob := admin.Caller{Actor: "bob@contoso.com", ClientIP: "10.1.2.3"}
	const oid = "6F1C0000-0000-0000-0000-0000000000AA"

	_, err := svc.Assign(ctx, bob, admin.AssignmentRequest{Role: "Owner", Principal: "user:x", Scope: "/subscriptions/x"})
	wantRequestError(t, err, 400, `"Owner"`, "unknown kind", "scope")

	a, err := svc.Assign(ctx, bob, admin.AssignmentRequest{Role: "cognitive services openai user", Principal: "Object:" + oid,
		Scope: "/deployments/gpt-4o*"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Role != rbac.RoleOpenAIUser || a.Principal != "object:"+oid || a.CreatedBy != bob.Actor || a.ID == "" {
		t.Errorf("stored assignment %+v: want canonical role and selector", a)
	}
	_, err = svc.Assign(ctx, bob, admin.AssignmentRequest{Role: rbac.RoleOpenAIUser, Principal: "object:" + strings.ToLower(oid),
		Scope: "/deployments/gpt-4o*/"})
	wantRequestError(t, err, 409, a.ID)
	admins, err := svc.Assign(ctx, bob, admin.AssignmentRequest{Role: "7c1e7a52-4f0b-4c57-9d3e-6a2b8f0d1e02", Principal: "group:ops"})
	if err != nil {
		t.Fatal(err)
	}
	if admins.Role != rbac.RoleMoatAdministrator || admins.Scope != "/" {
		t.Errorf("assignment by role ID: %+v", admins)
	}

	stored, err := svc.ListAssignments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	authz, err := svc.Authorizer(stored)
	if err != nil {
		t.Fatal(err)
	}
	chat, _ := openai.OperationByName("chat")
	p := &auth.Principal{Type: auth.TypeEntra, ID: strings.ToLower(oid), AppOnly: true}
	if d := authz.Check(p, chat.DataAction, "gpt-4o-mini"); !d.Allowed {
		t.Errorf("stored assignment does not grant chat on gpt-4o-mini: %+v", d)
	}
	if d := authz.Check(p, chat.DataAction, "o1"); d.Allowed {
		t.Errorf("scope /deployments/gpt-4o* granted o1: %+v", d)
	}

	if _, err := svc.Unassign(ctx, bob, a.ID); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Unassign(ctx, bob, a.ID)
	wantRequestError(t, err, 404, a.ID)
	if stored, _ := svc.ListAssignments(ctx); len(stored) != 1 || stored[0].ID != admins.ID {
		t.Errorf("after removal: %+v", stored)
	}
	if changed != 3 {
		t.Errorf("AssignmentsChanged called %d times, want 3", changed)
	}
	want := []string{"role.assign " + a.ID, "role.assign " + admins.ID, "role.remove " + a.ID}
	if diff := cmp.Diff(want, actions(t, s)); diff != "" {
		t.Errorf("audit trail (-want +got):\n%s", diff)
	}
	for _, e := range readAll(t, s, 10) {
		if e.ClientIP != bob.ClientIP || e.Actor != bob.Actor {
			t.Errorf("entry %d: actor %q ip %q", e.Seq, e.Actor, e.ClientIP)
		}
	}
}

// testServiceNoSecrets checks that a key's plaintext (and its hash) never
// reach a log line, an audit row or a listing.
func testServiceNoSecrets(t *testing.T, h Harness) {
	s, ctx := h.Open(t), context.Background()
	var logs bytes.Buffer
	svc := newService(t, s, func(o *admin.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	c := admin.Caller{Actor: "cli:alice"}
	nk, err := svc.CreateKey(ctx, c, admin.KeyRequest{Name: "secretive"})
	if err != nil {
		t.Fatal(err)
	}
	rg, err := svc.RegenerateKey(ctx, c, nk.Key.ID, admin.RegenerateRequest{RevokeOldAfter: 60})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RevokeKey(ctx, c, rg.New.Key.ID); err != nil {
		t.Fatal(err)
	}
	ks, err := svc.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var views []admin.KeyView
	for _, k := range ks {
		views = append(views, admin.ViewKey(k, base()))
	}
	listing, _ := json.Marshal(views)
	rows, _ := json.Marshal(readAll(t, s, 100))
	haystacks := map[string]string{"log": logs.String(), "audit rows": string(rows), "listing": string(listing)}
	for _, k := range []*admin.NewKey{nk, rg.New} {
		secret := k.Plaintext[len("moat_")+13:]
		needles := map[string]string{"plaintext": k.Plaintext, "secret": secret, "hash": hex.EncodeToString(k.Key.Hash)}
		for hn, hay := range haystacks {
			for nn, needle := range needles {
				if strings.Contains(hay, needle) {
					t.Errorf("%s contains key %s's %s", hn, k.Key.ID, nn)
				}
			}
		}
		if !strings.Contains(logs.String(), k.Key.ID) {
			t.Errorf("log does not name key %s", k.Key.ID)
		}
	}
}

// BenchmarkKeyGet measures the store lookup behind every uncached key
// verification.
func BenchmarkKeyGet(b *testing.B, newHarness Factory) {
	s, ctx := newHarness(b).Open(b), context.Background()
	k := sampleKey("0123456789ab", 1)
	if err := s.Put(ctx, k); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, k.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuditAppend measures one serialized, hash-linked append.
func BenchmarkAuditAppend(b *testing.B, newHarness Factory) {
	s, ctx := newHarness(b).Open(b), context.Background()
	r := audit.Record{Time: base(), Actor: "cli:alice", Action: audit.ActionKeyRevoke, Target: "0123456789ab",
		Details: json.RawMessage(`{"revoked_at":"2025-06-01T12:00:00Z"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.AppendAudit(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
