// Package admintest is the contract every admin.Store (API keys, role
// assignments, the audit log) must meet, run by each store's own tests
// against a real database, plus the management flows of admin.Service on
// top of it. One suite keeps SQLite and PostgreSQL behaving alike.
package admintest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/moat-gw/moat/internal/admin"
	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/auth"
)

// Harness is one isolated database (a file, a schema) under test.
type Harness struct {
	// Open opens the store on the database; calling it again opens another
	// handle on the same data (a second replica). It registers Close with
	// tb's cleanup.
	Open func(tb testing.TB) admin.Store
	// Exec runs SQL on the database directly, bypassing the store, the way
	// someone with database access would tamper with it.
	Exec func(tb testing.TB, query string) error
	// Unguard lists the statements that drop the audit_log triggers which
	// refuse UPDATE and DELETE.
	Unguard []string
}

// Factory makes a new, empty, isolated database and registers its removal
// with tb's cleanup.
type Factory func(tb testing.TB) Harness

// Run runs the contract tests.
func Run(t *testing.T, newHarness Factory) {
	one := func(fn func(*testing.T, Harness)) func(*testing.T, Factory) {
		return func(t *testing.T, f Factory) { fn(t, f(t)) }
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, f Factory)
	}{
		{"KeyRoundTrip", one(testKeyRoundTrip)},
		{"KeyNotFound", one(testKeyNotFound)},
		{"KeyRevoke", one(testKeyRevoke)},
		{"KeyDuplicateHash", one(testKeyDuplicateHash)},
		{"KeyVerifier", one(testKeyVerifier)},
		{"Assignments", one(testAssignments)},
		{"AuditChain", one(testAuditChain)},
		{"AuditConcurrentReplicas", one(testAuditConcurrent)},
		{"AuditAppendOnly", one(testAuditAppendOnly)},
		{"AuditTamper", one(testAuditTamper)},
		{"Reopen", one(testReopen)},
		{"ServiceKeyFlows", one(testServiceKeyFlows)},
		{"ServiceRoleFlows", one(testServiceRoleFlows)},
		{"ServiceNoSecrets", one(testServiceNoSecrets)},
		{"TeamStore", one(testTeamStore)},
		{"ServiceTeamFlows", one(testServiceTeamFlows)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newHarness)
		})
	}
}

// base is a fixed, microsecond-aligned instant, so stored times compare exactly.
func base() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC) }

var keyOpts = cmp.Options{cmpopts.EquateEmpty()}

func sampleKey(id string, hash byte) *auth.Key {
	return &auth.Key{
		ID: id, Name: "build bot " + id, Owner: "team-ci", Description: "used by CI",
		Hash:        []byte{hash, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31},
		Deployments: []string{"gpt-4o", "gpt-4o-mini*"}, Operations: []string{"chat", "embeddings"},
		ExpiresAt: base().Add(30 * 24 * time.Hour), CreatedAt: base(), Limits: auth.KeyLimits{TPM: 10000, RPM: 60},
	}
}

func testKeyRoundTrip(t *testing.T, h Harness) {
	s, ctx := h.Open(t), context.Background()
	keys := []*auth.Key{sampleKey("0000000000cc", 3), sampleKey("0000000000aa", 1), sampleKey("0000000000bb", 2)}
	keys[1].Deployments, keys[1].Operations, keys[1].ExpiresAt = nil, nil, time.Time{}
	keys[2].RevokedAt = base().Add(time.Hour)
	for _, k := range keys {
		if err := s.Put(ctx, k); err != nil {
			t.Fatalf("Put(%s): %v", k.ID, err)
		}
	}
	got, err := s.Get(ctx, keys[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(keys[0], got, keyOpts); diff != "" {
		t.Errorf("Get (-put +got):\n%s", diff)
	}
	replaced := sampleKey(keys[0].ID, 9)
	replaced.Name, replaced.Limits = "renamed", auth.KeyLimits{}
	if err := s.Put(ctx, replaced); err != nil {
		t.Fatal(err)
	}
	all, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []*auth.Key{keys[1], keys[2], replaced}
	if diff := cmp.Diff(want, all, keyOpts); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if err := s.Put(ctx, &auth.Key{ID: "", Hash: []byte{1}}); err == nil {
		t.Error("Put without ID succeeded")
	}
}

func testKeyNotFound(t *testing.T, h Harness) {
	s, ctx := h.Open(t), context.Background()
	if _, err := s.Get(ctx, "000000000000"); !errors.Is(err, auth.ErrKeyNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrKeyNotFound", err)
	}
	if err := s.Revoke(ctx, "000000000000", base()); !errors.Is(err, auth.ErrKeyNotFound) {
		t.Errorf("Revoke(unknown) = %v, want ErrKeyNotFound", err)
	}
	if ks, err := s.List(ctx); err != nil || len(ks) != 0 {
		t.Errorf("List on an empty store = %v, %v", ks, err)
	}
}

func testKeyRevoke(t *testing.T, h Harness) {
	s, ctx := h.Open(t), context.Background()
	k := sampleKey("0123456789ab", 1)
	if err := s.Put(ctx, k); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		at   time.Time
		want time.Time
	}{
		{"first revocation", base().Add(time.Hour), base().Add(time.Hour)},
		{"later time keeps the earlier", base().Add(2 * time.Hour), base().Add(time.Hour)},
		{"earlier time brings it forward", base().Add(time.Minute), base().Add(time.Minute)},
	}
	for _, st := range steps {
		if err := s.Revoke(ctx, k.ID, st.at); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := s.Get(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.RevokedAt.Equal(st.want) {
			t.Errorf("%s: RevokedAt = %v, want %v", st.name, got.RevokedAt, st.want)
		}
	}
}

func testKeyDuplicateHash(t *testing.T, h Harness) {
	s, ctx := h.Open(t), context.Background()
	if err := s.Put(ctx, sampleKey("0000000000a1", 7)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, sampleKey("0000000000a2", 7)); err == nil {
		t.Error("two keys with one hash were both stored")
	}
}

// testKeyVerifier checks that the store serves auth.KeyVerifier: a
// generated key verifies, a wrong secret and a revoked key do not.
func testKeyVerifier(t *testing.T, h Harness) {
	s, ctx := h.Open(t), context.Background()
	hasher := auth.NewHasher([]byte("pepper"))
	plaintext, m, err := hasher.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, &auth.Key{ID: m.ID, Hash: m.Hash, Name: "n", CreatedAt: base()}); err != nil {
		t.Fatal(err)
	}
	now := base().Add(time.Minute)
	v, err := auth.NewKeyVerifier(auth.KeyVerifierOptions{Stores: []auth.KeyStore{s}, Hasher: hasher, CacheTTL: -1,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := v.Verify(ctx, plaintext); err != nil || k.ID != m.ID {
		t.Fatalf("Verify(generated key) = %v, %v", k, err)
	}
	other, _, _ := hasher.GenerateKey()
	forged := plaintext[:len("moat_")+12] + other[len("moat_")+12:]
	if _, err := v.Verify(ctx, forged); !errors.Is(err, auth.ErrKeyMismatch) {
		t.Errorf("Verify(wrong secret) = %v, want ErrKeyMismatch", err)
	}
	if err := s.Revoke(ctx, m.ID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, plaintext); !errors.Is(err, auth.ErrKeyRevoked) {
		t.Errorf("Verify(revoked) = %v, want ErrKeyRevoked", err)
	}
}

func testAssignments(t *testing.T, h Harness) {
	s, ctx := h.Open(t), context.Background()
	as := []audit.RoleAssignment{
		{ID: "b", Role: "Cognitive Services OpenAI User", Principal: "object:6f1c0000-0000-0000-0000-000000000001",
			Scope: "/deployments/gpt-4o*", CreatedAt: base(), CreatedBy: "cli:alice"},
		{ID: "a", Role: "Moat Administrator", Principal: "group:g1", Scope: "/", CreatedAt: base().Add(time.Second), CreatedBy: "admin@contoso.com"},
		{ID: "c", Role: "Moat Log Reader", Principal: "key:0123456789ab", Scope: "/", CreatedAt: base(), CreatedBy: "cli:bob"},
	}
	for _, a := range as {
		if err := s.PutAssignment(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListAssignments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []audit.RoleAssignment{as[0], as[2], as[1]} // by created_at, then id
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListAssignments (-want +got):\n%s", diff)
	}
	deleted, err := s.DeleteAssignment(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(as[2], deleted); diff != "" {
		t.Errorf("DeleteAssignment returned (-want +got):\n%s", diff)
	}
	if _, err := s.DeleteAssignment(ctx, "c"); !errors.Is(err, audit.ErrAssignmentNotFound) {
		t.Errorf("second DeleteAssignment = %v, want ErrAssignmentNotFound", err)
	}
	if got, _ := s.ListAssignments(ctx); len(got) != 2 {
		t.Errorf("after delete: %d assignments, want 2", len(got))
	}
	if err := s.PutAssignment(ctx, audit.RoleAssignment{}); err == nil {
		t.Error("PutAssignment without ID succeeded")
	}
}
