package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// keyFixture is a verifier over a MemKeyStore with one moat_ key and one
// static key, on a fake clock.
type keyFixture struct {
	store *MemKeyStore
	v     *KeyVerifier
	clock *fakeClock
	plain string
	id    string
}

func newKeyFixture(t testing.TB, pepper []byte) *keyFixture {
	t.Helper()
	h := NewHasher(pepper)
	plain, km, err := h.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	static, err := NewStaticKey("key1", key1, h, t0)
	if err != nil {
		t.Fatal(err)
	}
	store, err := NewMemKeyStore(&Key{ID: km.ID, Name: "ci", Hash: km.Hash, CreatedAt: t0,
		Deployments: []string{"gpt-4o"}, Operations: []string{"chat"}}, static)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: t0}
	v, err := NewKeyVerifier(KeyVerifierOptions{Stores: []KeyStore{&dbStore{mem: store}}, Hasher: h, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &keyFixture{store: store, v: v, clock: clock, plain: plain, id: km.ID}
}

func TestVerify(t *testing.T) {
	f := newKeyFixture(t, []byte("pepper"))
	last := "A"
	if strings.HasSuffix(f.plain, "A") {
		last = "B"
	}
	wrongSecret := f.plain[:len(f.plain)-1] + last
	tests := []struct {
		name   string
		in     string
		wantID string
		want   error
	}{
		{name: "moat key", in: f.plain, wantID: f.id},
		{name: "static key", in: key1, wantID: "key1"},
		{name: "moat key wrong secret", in: wrongSecret, want: ErrKeyMismatch},
		{name: "unknown moat id", in: "moat_ffffffffffff_" + strings.Repeat("A", 43), want: ErrKeyNotFound},
		{name: "unknown static", in: strings.Repeat("f", 32), want: ErrKeyNotFound},
		{name: "too short for static", in: "abc", want: ErrKeyNotFound},
		{name: "empty", in: "", want: ErrKeyNotFound},
		{name: "too long", in: strings.Repeat("a", 600), want: ErrKeyNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := f.v.Verify(context.Background(), tt.in)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("Verify = %v, want %v", err, tt.want)
				}
				if tt.in != "" && strings.Contains(err.Error(), tt.in) {
					t.Error("error contains the plaintext key")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.ID != tt.wantID {
				t.Errorf("ID = %q, want %q", k.ID, tt.wantID)
			}
		})
	}
}

func TestVerifyWithoutPepperRejectsPepperedStore(t *testing.T) {
	f := newKeyFixture(t, []byte("pepper"))
	v, _ := NewKeyVerifier(KeyVerifierOptions{Stores: []KeyStore{f.store}, Hasher: NewHasher(nil)})
	if _, err := v.Verify(context.Background(), f.plain); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("Verify with the wrong pepper = %v, want ErrKeyMismatch", err)
	}
}

// TestRevocationWithinCacheTTL: a revoked key works at most CacheTTL longer
// on a replica that did not revoke it, and not at all after Invalidate.
func TestRevocationWithinCacheTTL(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, key, id string }{{"moat key", "", ""}, {"static key", key1, "key1"}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newKeyFixture(t, nil)
			plain, id := f.plain, f.id
			if tc.key != "" {
				plain, id = tc.key, tc.id
			}
			if _, err := f.v.Verify(ctx, plain); err != nil {
				t.Fatal(err)
			}
			if err := f.store.Revoke(ctx, id, t0); err != nil {
				t.Fatal(err)
			}
			f.clock.Add(DefaultKeyCacheTTL / 2)
			if _, err := f.v.Verify(ctx, plain); err != nil {
				t.Errorf("within the TTL the cached key still works: %v", err)
			}
			f.clock.Add(DefaultKeyCacheTTL)
			if _, err := f.v.Verify(ctx, plain); !errors.Is(err, ErrKeyRevoked) {
				t.Errorf("after the TTL: %v, want ErrKeyRevoked", err)
			}
		})
	}
	t.Run("invalidate", func(t *testing.T) {
		f := newKeyFixture(t, nil)
		for _, p := range []string{f.plain, key1} {
			if _, err := f.v.Verify(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range []string{f.id, "key1"} {
			if err := f.store.Revoke(ctx, id, t0); err != nil {
				t.Fatal(err)
			}
			f.v.Invalidate(id)
		}
		for _, p := range []string{f.plain, key1} {
			if _, err := f.v.Verify(ctx, p); !errors.Is(err, ErrKeyRevoked) {
				t.Errorf("after Invalidate: %v, want ErrKeyRevoked", err)
			}
		}
	})
	t.Run("expiry is checked on cached keys", func(t *testing.T) {
		f := newKeyFixture(t, nil)
		k, _ := f.store.Get(ctx, f.id)
		k.ExpiresAt = t0.Add(time.Millisecond)
		_ = f.store.Put(ctx, k)
		if _, err := f.v.Verify(ctx, f.plain); err != nil {
			t.Fatal(err)
		}
		f.clock.Add(time.Millisecond)
		if _, err := f.v.Verify(ctx, f.plain); !errors.Is(err, ErrKeyExpired) {
			t.Errorf("Verify = %v, want ErrKeyExpired", err)
		}
	})
}

// failingStore is a KeyStore whose backend is down.
type failingStore struct{ dbStore }

func (*failingStore) Get(context.Context, string) (*Key, error) { return nil, errors.New("db down") }

func TestAuthenticateKeys(t *testing.T) {
	f := newKeyFixture(t, nil)
	ctx := context.Background()
	invalidBody := string(openai.FrontDoorErrorCompact("401", openai.MsgInvalidKey))
	disabledBody := `{"error":{"code":"AuthenticationTypeDisabled","message": "Key based authentication is disabled for this resource."}}`
	down, _ := NewKeyVerifier(KeyVerifierOptions{Stores: []KeyStore{&failingStore{}}})
	tests := []struct {
		name       string
		a          *Authenticator
		cred       Credential
		wantStatus int
		wantBody   string
		wantID     string
	}{
		{name: "valid", a: NewAuthenticator(AuthenticatorOptions{Keys: f.v}), cred: Credential{Kind: CredentialKey, Secret: f.plain}, wantID: f.id},
		{name: "invalid", a: NewAuthenticator(AuthenticatorOptions{Keys: f.v}), cred: Credential{Kind: CredentialKey, Secret: key1 + "0"}, wantStatus: 401, wantBody: invalidBody},
		{name: "local auth disabled, valid key", a: NewAuthenticator(AuthenticatorOptions{Keys: f.v, DisableLocalAuth: true}), cred: Credential{Kind: CredentialKey, Secret: f.plain}, wantStatus: 403, wantBody: disabledBody},
		{name: "local auth disabled, bad key", a: NewAuthenticator(AuthenticatorOptions{Keys: f.v, DisableLocalAuth: true}), cred: Credential{Kind: CredentialKey, Secret: "x"}, wantStatus: 403, wantBody: disabledBody},
		{name: "no key stores", a: NewAuthenticator(AuthenticatorOptions{}), cred: Credential{Kind: CredentialKey, Secret: f.plain}, wantStatus: 401, wantBody: invalidBody},
		{name: "no token issuers", a: NewAuthenticator(AuthenticatorOptions{Keys: f.v}), cred: Credential{Kind: CredentialToken, Secret: "eyJ.a.b"}, wantStatus: 401, wantBody: string(openai.StatusError(401, openai.MsgTokenInvalid))},
		{name: "no credential", a: NewAuthenticator(AuthenticatorOptions{Keys: f.v}), cred: Credential{}, wantStatus: 401, wantBody: invalidBody},
		{name: "store down, key never seen", a: NewAuthenticator(AuthenticatorOptions{Keys: down}), cred: Credential{Kind: CredentialKey, Secret: f.plain}, wantStatus: 401, wantBody: invalidBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.a.Authenticate(ctx, tt.cred)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if p.Type != TypeKey || p.ID != tt.wantID || p.KeyID != tt.wantID || p.Key() == nil || p.DisplayID() != tt.wantID {
					t.Errorf("principal = %+v", p)
				}
				return
			}
			var he *httpx.Error
			if !errors.As(err, &he) {
				t.Fatalf("err = %v, want *httpx.Error", err)
			}
			if he.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d", he.Status, tt.wantStatus)
			}
			if tt.wantBody != "" {
				if diff := cmp.Diff(tt.wantBody, string(httpx.Render(openai.Errors{}, he))); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			}
			if tt.cred.Secret != "" && strings.Contains(he.Error(), tt.cred.Secret) {
				t.Error("error contains the secret")
			}
		})
	}
}

func TestCheckKeyScope(t *testing.T) {
	f := newKeyFixture(t, nil)
	a := NewAuthenticator(AuthenticatorOptions{Keys: f.v})
	p, err := a.AuthenticateRequest(context.Background(), http.Header{"Api-Key": {f.plain}}, false)
	if err != nil {
		t.Fatal(err)
	}
	chat, _ := openai.OperationByName("chat")
	emb, _ := openai.OperationByName("embeddings")
	if err := p.CheckKeyScope("gpt-4o", chat, "POST /openai/deployments/{deployment-id}/chat/completions", t0); err != nil {
		t.Errorf("in-scope request: %v", err)
	}
	err = p.CheckKeyScope("gpt-4o", emb, "POST /openai/deployments/{deployment-id}/embeddings", t0)
	var he *httpx.Error
	if !errors.As(err, &he) || he.Status != 401 || he.Kind != httpx.KindPolicyForbidden {
		t.Fatalf("out-of-scope operation: %v", err)
	}
	want := "{\"error\":{\"code\":\"PermissionDenied\",\"message\":\"The principal `" + f.id + "` lacks the required data action `Microsoft.CognitiveServices/accounts/OpenAI/deployments/embeddings/action` to perform `POST /openai/deployments/{deployment-id}/embeddings` operation.\"}}"
	if diff := cmp.Diff(want, string(httpx.Render(openai.Errors{}, he))); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if err := p.CheckKeyScope("other", chat, "POST /openai/v1/chat/completions", t0); !errors.Is(err, ErrKeyScope) {
		t.Errorf("out-of-scope deployment: %v", err)
	}
	// A key that expires after authentication fails as an invalid key.
	p.key.ExpiresAt = t0.Add(time.Second)
	err = p.CheckKeyScope("gpt-4o", chat, "", t0.Add(time.Second))
	if !errors.As(err, &he) || string(httpx.Render(openai.Errors{}, he)) != string(openai.FrontDoorErrorCompact("401", openai.MsgInvalidKey)) {
		t.Errorf("expired key: %v", err)
	}
	if err := (&Principal{Type: TypeKey, ID: "forged"}).CheckKeyScope("x", emb, "", t0); err == nil {
		t.Error("a key principal not made by Authenticate passed the scope check")
	}
	if err := (&Principal{Type: TypeEntra}).CheckKeyScope("x", emb, "", t0); err != nil {
		t.Errorf("token principal: %v", err)
	}
}

func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		pepper []byte
		ttl    time.Duration
		static bool
		behind bool // the key's store after an in-memory one without it, as a gateway's config keys
	}{
		{name: "moat/sha256/cached"},
		{name: "moat/hmac/cached", pepper: []byte("pepper")},
		{name: "moat/sha256/uncached", ttl: -1},
		{name: "static/sha256/cached", static: true},
		{name: "moat/sha256/cached/behind-config-keys", behind: true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := newKeyFixture(b, tc.pepper)
			stores := []KeyStore{f.store}
			if tc.behind {
				config, err := NewMemKeyStore()
				if err != nil {
					b.Fatal(err)
				}
				stores = []KeyStore{config, &dbStore{mem: f.store}}
			}
			v, _ := NewKeyVerifier(KeyVerifierOptions{Stores: stores, Hasher: NewHasher(tc.pepper), CacheTTL: tc.ttl})
			plain := f.plain
			if tc.static {
				plain = key1
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, plain); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
