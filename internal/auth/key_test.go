package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const key1 = "0123456789abcdef0123456789abcdef" // Azure-style static key

func TestGenerateKeyFormat(t *testing.T) {
	h := NewHasher(nil)
	seen := map[string]bool{}
	for range 20 {
		plain, km, err := h.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(plain, "moat_"+km.ID+"_") || len(plain) != 61 {
			t.Errorf("key %q (id %s) has the wrong shape", plain, km.ID)
		}
		if id, ok := ParseKeyID(plain); !ok || id != km.ID {
			t.Errorf("ParseKeyID(generated) = %q, %v", id, ok)
		}
		if LooksLikeJWT(plain) {
			t.Errorf("generated key looks like a JWT")
		}
		if !h.Equal(plain, km.Hash) {
			t.Error("hash of generated key does not verify")
		}
		if seen[km.ID] {
			t.Errorf("duplicate ID %s", km.ID)
		}
		seen[km.ID] = true
	}
}

func TestParseKeyID(t *testing.T) {
	good := "moat_0123456789ab_" + strings.Repeat("A", 42) + "_"
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "good", in: good, ok: true},
		{name: "upper-case id", in: "moat_0123456789AB_" + strings.Repeat("A", 43)},
		{name: "short secret", in: "moat_0123456789ab_" + strings.Repeat("A", 42)},
		{name: "bad secret char", in: "moat_0123456789ab_" + strings.Repeat("A", 42) + "."},
		{name: "missing separator", in: "moat_0123456789abX" + strings.Repeat("A", 43)},
		{name: "other prefix", in: "mOat_0123456789ab_" + strings.Repeat("A", 43)},
		{name: "azure key", in: key1},
		{name: "empty", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := ParseKeyID(tt.in); ok != tt.ok {
				t.Errorf("ParseKeyID(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
		})
	}
}

func TestHasherPepper(t *testing.T) {
	a, b, none := NewHasher([]byte("pepper-a")), NewHasher([]byte("pepper-b")), NewHasher(nil)
	if !a.Equal(key1, a.Hash(key1)) {
		t.Error("peppered hash does not verify with its own pepper")
	}
	if b.Equal(key1, a.Hash(key1)) || none.Equal(key1, a.Hash(key1)) {
		t.Error("peppered hash verifies with another pepper")
	}
	// The constant-time compare must reject a hash differing in its last byte
	// or in length.
	h := a.Hash(key1)
	h[len(h)-1] ^= 1
	if a.Equal(key1, h) || a.Equal(key1, h[:len(h)-1]) {
		t.Error("Equal accepted a different hash")
	}
}

func TestKeyAllows(t *testing.T) {
	k := &Key{ID: "k", Deployments: []string{"gpt-4o", "emb-*"}, Operations: []string{"chat", "Embeddings"}}
	tests := []struct {
		name       string
		key        *Key
		deployment string
		operation  string
		now        time.Time
		want       error
	}{
		{name: "unscoped", key: &Key{ID: "k"}, deployment: "any", operation: "speech"},
		{name: "listed", key: k, deployment: "gpt-4o", operation: "chat"},
		{name: "glob", key: k, deployment: "emb-large", operation: "embeddings"},
		{name: "deployment case differs", key: k, deployment: "GPT-4o", operation: "chat", want: ErrKeyScope},
		{name: "other deployment", key: k, deployment: "gpt-4o-mini", operation: "chat", want: ErrKeyScope},
		{name: "other operation", key: k, deployment: "gpt-4o", operation: "images", want: ErrKeyScope},
		{name: "no deployment named", key: k, deployment: "", operation: "chat"},
		{name: "unknown operation on scoped key", key: k, deployment: "gpt-4o", operation: "", want: ErrKeyScope},
		{name: "revoked", key: &Key{ID: "k", RevokedAt: t0}, deployment: "x", operation: "chat", now: t0, want: ErrKeyRevoked},
		{name: "revocation scheduled later", key: &Key{ID: "k", RevokedAt: t0.Add(time.Hour)}, deployment: "x", operation: "chat", now: t0},
		{name: "expired", key: &Key{ID: "k", ExpiresAt: t0}, deployment: "x", operation: "chat", now: t0, want: ErrKeyExpired},
		{name: "not yet expired", key: &Key{ID: "k", ExpiresAt: t0.Add(time.Second)}, deployment: "x", operation: "chat", now: t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = t0
			}
			err := tt.key.Allows(tt.deployment, tt.operation, now)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Allows = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"a", "a", true}, {"a", "b", false}, {"*", "", true}, {"a*", "abc", true}, {"*c", "abc", true},
		{"a*c", "abc", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "acb", false}, {"ab*ba", "aba", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.s, func(t *testing.T) {
			if got := globMatch(tt.pattern, tt.s); got != tt.want {
				t.Errorf("globMatch(%q, %q) = %v", tt.pattern, tt.s, got)
			}
		})
	}
}

func TestStaticKeys(t *testing.T) {
	h := NewHasher(nil)
	for _, bad := range []string{"short", key1[:31], "moat_0123456789ab_" + strings.Repeat("A", 43), key1 + " x"} {
		if _, err := NewStaticKey("key1", bad, h, t0); err == nil {
			t.Errorf("NewStaticKey accepted %q", bad)
		}
	}
	if _, err := NewStaticKey("", key1, h, t0); err == nil {
		t.Error("NewStaticKey accepted an empty name")
	}
	k, err := NewStaticKey("key1", key1, h, t0)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID != "key1" || !h.Equal(key1, k.Hash) {
		t.Errorf("static key = %+v", k)
	}
	if strings.Contains(fmt.Sprintf("%+v", k), key1) {
		t.Error("static key prints its secret")
	}
}

func TestMemKeyStore(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(nil)
	a := &Key{ID: "b", Hash: h.Hash("x"), Deployments: []string{"d"}}
	b := &Key{ID: "a", Hash: h.Hash("y")}
	if _, err := NewMemKeyStore(a, &Key{ID: "b", Hash: h.Hash("z")}); err == nil {
		t.Error("duplicate ID accepted")
	}
	if _, err := NewMemKeyStore(a, &Key{ID: "c", Hash: h.Hash("x")}); err == nil {
		t.Error("duplicate secret accepted")
	}
	s, err := NewMemKeyStore(a, b)
	if err != nil {
		t.Fatal(err)
	}
	a.Deployments[0] = "mutated"
	got, err := s.Get(ctx, "b")
	if err != nil || got.Deployments[0] != "d" {
		t.Fatalf("Get = %+v, %v; the store must hold a copy", got, err)
	}
	got.Deployments[0] = "mutated"
	if again, _ := s.Get(ctx, "b"); again.Deployments[0] != "d" {
		t.Error("Get returned the stored key, not a copy")
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("Get(unknown) = %v", err)
	}
	list, _ := s.List(ctx)
	if diff := cmp.Diff([]string{"a", "b"}, []string{list[0].ID, list[1].ID}); diff != "" {
		t.Errorf("List order (-want +got):\n%s", diff)
	}
	if err := s.Revoke(ctx, "a", t0); err != nil {
		t.Fatal(err)
	}
	if k, _ := s.GetByHash(ctx, h.Hash("y")); !k.RevokedAt.Equal(t0) {
		t.Error("revocation not visible through the hash index")
	}
	if err := s.Revoke(ctx, "nope", t0); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("Revoke(unknown) = %v", err)
	}
	// Replacing a key's secret drops the old hash from the index.
	if err := s.Put(ctx, &Key{ID: "a", Hash: h.Hash("new")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetByHash(ctx, h.Hash("y")); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("old hash still found: %v", err)
	}
	if err := s.Put(ctx, &Key{ID: "other", Hash: h.Hash("new")}); err == nil {
		t.Error("Put accepted a second key with the same secret")
	}
	if err := s.Put(ctx, &Key{ID: "x"}); err == nil {
		t.Error("Put accepted a key without hash")
	}
}
