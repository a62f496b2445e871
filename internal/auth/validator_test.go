package auth

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newEntraValidator(t *testing.T, idp *testIdP, clock *fakeClock, mutate func(*Issuer)) *Validator {
	t.Helper()
	is := Issuer{TenantID: testTenant, DiscoveryURL: idp.discovery()}
	if mutate != nil {
		mutate(&is)
	}
	v, err := NewValidator([]Issuer{is}, ValidatorOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantTokenRejected(t *testing.T, err error, token string) {
	t.Helper()
	var he *httpx.Error
	if !errors.As(err, &he) {
		t.Fatalf("err = %v, want *httpx.Error", err)
	}
	if he.Status != 401 || he.Kind != httpx.KindClientAuth {
		t.Errorf("status %d kind %s, want 401 client_auth", he.Status, he.Kind)
	}
	if diff := cmp.Diff(string(openai.StatusError(401, openai.MsgTokenInvalid)), string(httpx.Render(openai.Errors{}, he))); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if token != "" && strings.Contains(he.Error(), token) {
		t.Error("error text contains the token")
	}
}

func TestValidateEntraTokens(t *testing.T) {
	idp := newTestIdP(t, "https://login.microsoftonline.com/"+testTenant+"/v2.0")
	k1 := rsaKeys()[0]
	idp.setKeys(rsaJWK("k1", k1), ecJWK("e1", ecKey()))
	clock := &fakeClock{t: t0}
	pemPub, err := x509.MarshalPKIXPublicKey(&k1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pemPub})
	with := func(kv ...any) jwt.MapClaims {
		c := appClaims(t0)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	otherTenant := "11111111-2222-3333-4444-555555555555"
	tests := []struct {
		name    string
		token   string
		mutate  func(*Issuer)
		wantErr string // substring of the cause; "" means valid
	}{
		{name: "v1 app token", token: sign(t, jwt.SigningMethodRS256, "k1", k1, appClaims(t0))},
		{name: "v2 issuer", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("iss", "https://login.microsoftonline.com/"+testTenant+"/v2.0"))},
		{name: "ES256", token: sign(t, jwt.SigningMethodES256, "e1", ecKey(), appClaims(t0))},
		{name: "PS256", token: sign(t, jwt.SigningMethodPS256, "k1", k1, appClaims(t0))},
		{name: "RS512", token: sign(t, jwt.SigningMethodRS512, "k1", k1, appClaims(t0))},
		{name: "no kid tries every fitting key", token: sign(t, jwt.SigningMethodRS256, "", k1, appClaims(t0))},
		{name: "aud with trailing slash", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("aud", AudienceCognitiveServices+"/"))},
		{name: "aud as array", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("aud", []string{"x", AudienceCognitiveServices}))},
		{name: "tenant in upper case", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("tid", strings.ToUpper(testTenant)))},
		{name: "expired within skew", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("exp", t0.Add(-4*time.Minute).Unix()))},
		{name: "nbf within skew", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("nbf", t0.Add(4*time.Minute).Unix()))},
		{name: "ai.azure.com when configured", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("aud", AudienceAIFoundry)),
			mutate: func(is *Issuer) { is.Audiences = []string{AudienceCognitiveServices, AudienceAIFoundry} }},
		{name: "allowed client", token: sign(t, jwt.SigningMethodRS256, "k1", k1, appClaims(t0)),
			mutate: func(is *Issuer) { is.AllowedClientIDs = []string{"5E29463D-71DA-4FE0-8E69-999B57DB23B0"} }},

		{name: "alg none", token: sign(t, jwt.SigningMethodNone, "k1", jwt.UnsafeAllowNoneSignatureType, appClaims(t0)), wantErr: "not a JWS"},
		{name: "alg none with a signature", token: sign(t, jwt.SigningMethodNone, "k1", jwt.UnsafeAllowNoneSignatureType, appClaims(t0)) + "AAAA", wantErr: "signing method none is invalid"},
		{name: "HS256 keyed with the public key", token: sign(t, jwt.SigningMethodHS256, "k1", pubPEM, appClaims(t0)), wantErr: "signing method HS256 is invalid"},
		{name: "ES512 not allowed", token: "eyJhbGciOiJFUzUxMiIsImtpZCI6ImUxIn0." + strings.SplitN(sign(t, jwt.SigningMethodRS256, "k1", k1, appClaims(t0)), ".", 3)[1] + ".AAAA", wantErr: "signing method ES512 is invalid"},
		{name: "RS256 signed by another key", token: sign(t, jwt.SigningMethodRS256, "k1", rsaKeys()[2], appClaims(t0)), wantErr: "verification error"},
		{name: "tampered payload", token: func() string {
			parts := strings.Split(sign(t, jwt.SigningMethodRS256, "k1", k1, appClaims(t0)), ".")
			other := strings.Split(sign(t, jwt.SigningMethodRS256, "k1", k1, with("oid", "evil")), ".")
			return parts[0] + "." + other[1] + "." + parts[2]
		}(), wantErr: "verification error"},
		{name: "ES256 token against RSA kid", token: sign(t, jwt.SigningMethodES256, "k1", ecKey(), appClaims(t0)), wantErr: `no ES256 key with kid "k1"`},
		{name: "wrong aud", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("aud", "https://management.azure.com")), wantErr: "audience"},
		{name: "ai.azure.com by default", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("aud", AudienceAIFoundry)), wantErr: "audience"},
		{name: "missing aud", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("aud", nil)), wantErr: "aud"},
		{name: "wrong iss", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("iss", "https://evil.example/")), wantErr: "not trusted"},
		{name: "other tenant issuer", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("iss", "https://sts.windows.net/"+otherTenant+"/", "tid", otherTenant)), wantErr: "not trusted"},
		{name: "other tenant tid", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("tid", otherTenant)), wantErr: "tenant"},
		{name: "missing tid", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("tid", nil)), wantErr: "tenant"},
		{name: "expired", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("exp", t0.Add(-6*time.Minute).Unix())), wantErr: "expired"},
		{name: "nbf in the future", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("nbf", t0.Add(6*time.Minute).Unix())), wantErr: "not valid yet"},
		{name: "missing exp", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("exp", nil)), wantErr: "exp"},
		{name: "client not allowed", token: sign(t, jwt.SigningMethodRS256, "k1", k1, appClaims(t0)),
			mutate: func(is *Issuer) { is.AllowedClientIDs = []string{"someone-else"} }, wantErr: "client"},
		{name: "no oid nor sub", token: sign(t, jwt.SigningMethodRS256, "k1", k1, with("oid", nil, "sub", nil)), wantErr: "neither oid nor sub"},
		{name: "not a JWT", token: "abc.def", wantErr: "not a JWS"},
		{name: "garbage payload", token: "eyJhbGciOiJSUzI1NiJ9.@@@.sig", wantErr: "not a JWS"},
		{name: "payload not JSON", token: "eyJhbGciOiJSUzI1NiJ9.bm90anNvbg.c2ln", wantErr: "decode payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newEntraValidator(t, idp, clock, tt.mutate)
			p, err := v.Validate(context.Background(), tt.token)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if p.Type != TypeEntra || p.ID != "00000000-1111-2222-3333-444444444444" || p.AppID != "5e29463d-71da-4fe0-8e69-999b57db23b0" {
					t.Errorf("principal = %+v", p)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted the token")
			}
			wantTokenRejected(t, err, tt.token)
			if !strings.Contains(errors.Unwrap(err).Error(), tt.wantErr) {
				t.Errorf("cause %q does not mention %q", errors.Unwrap(err), tt.wantErr)
			}
		})
	}
}

func TestValidatePrincipalClaims(t *testing.T) {
	idp := newTestIdP(t, "https://sts.windows.net/"+testTenant+"/")
	k1 := rsaKeys()[0]
	idp.setKeys(rsaJWK("k1", k1))
	clock := &fakeClock{t: t0}
	v := newEntraValidator(t, idp, clock, nil)
	user := appClaims(t0)
	delete(user, "idtyp")
	user["upn"] = "ada@contoso.com"
	user["scp"] = "user_impersonation other"
	user["groups"] = []string{"g1", "g2"}
	user["roles"] = []string{"Moat.Reader"}
	p, err := v.Validate(context.Background(), sign(t, jwt.SigningMethodRS256, "k1", k1, user))
	if err != nil {
		t.Fatal(err)
	}
	want := &Principal{Type: TypeEntra, ID: "00000000-1111-2222-3333-444444444444", TenantID: testTenant,
		AppID: "5e29463d-71da-4fe0-8e69-999b57db23b0", Roles: []string{"Moat.Reader"}, Groups: []string{"g1", "g2"},
		Scopes: []string{"user_impersonation", "other"}, Name: "ada@contoso.com"}
	if diff := cmp.Diff(want, p, cmp.AllowUnexported(Principal{})); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
	if p.DisplayID() != "ada@contoso.com" {
		t.Errorf("user DisplayID = %q, want the UPN", p.DisplayID())
	}
	app, err := v.Validate(context.Background(), sign(t, jwt.SigningMethodRS256, "k1", k1, appClaims(t0)))
	if err != nil {
		t.Fatal(err)
	}
	if app.DisplayID() != app.ID || !app.AppOnly {
		t.Errorf("app DisplayID = %q AppOnly %v, want the oid", app.DisplayID(), app.AppOnly)
	}
}

func TestValidateGenericOIDC(t *testing.T) {
	k1 := rsaKeys()[1]
	idp := newTestIdP(t, "")
	idp.issuer = idp.srv.URL
	idp.setKeys(rsaJWK("o1", k1))
	clock := &fakeClock{t: t0}
	v, err := NewValidator([]Issuer{{Issuer: idp.srv.URL, Audiences: []string{"moat"}}}, ValidatorOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"iss": idp.srv.URL, "aud": "moat", "sub": "user-7", "azp": "cli", "exp": t0.Add(time.Hour).Unix(),
		"scp": []string{"a", "b"}, "roles": "admin", "preferred_username": "bob"}
	p, err := v.Validate(context.Background(), sign(t, jwt.SigningMethodRS256, "o1", k1, claims))
	if err != nil {
		t.Fatal(err)
	}
	want := &Principal{Type: TypeOIDC, ID: "user-7", AppID: "cli", Scopes: []string{"a", "b"}, Roles: []string{"admin"}, Name: "bob"}
	if diff := cmp.Diff(want, p, cmp.AllowUnexported(Principal{})); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
	// A discovery document naming another issuer is refused.
	idp.issuer = "https://elsewhere.example"
	v2, _ := NewValidator([]Issuer{{Issuer: idp.srv.URL, Audiences: []string{"moat"}}}, ValidatorOptions{Now: clock.Now})
	_, err = v2.Validate(context.Background(), sign(t, jwt.SigningMethodRS256, "o1", k1, claims))
	if !errors.Is(err, ErrKeysUnavailable) {
		t.Errorf("discovery issuer mismatch: err = %v, want ErrKeysUnavailable", err)
	}
}

// TestKeyRotation: a token with an unknown kid triggers one refresh, and
// further refreshes wait for the minimum interval.
func TestKeyRotation(t *testing.T) {
	k1, k2 := rsaKeys()[0], rsaKeys()[1]
	idp := newTestIdP(t, "https://sts.windows.net/"+testTenant+"/")
	idp.setKeys(rsaJWK("k1", k1))
	clock := &fakeClock{t: t0}
	v := newEntraValidator(t, idp, clock, nil)
	ctx := context.Background()
	if _, err := v.Validate(ctx, sign(t, jwt.SigningMethodRS256, "k1", k1, appClaims(clock.Now()))); err != nil {
		t.Fatalf("k1 token: %v", err)
	}
	idp.setKeys(rsaJWK("k1", k1), rsaJWK("k2", k2))
	clock.Add(31 * time.Second)
	if _, err := v.Validate(ctx, sign(t, jwt.SigningMethodRS256, "k2", k2, appClaims(clock.Now()))); err != nil {
		t.Fatalf("k2 token after rotation: %v", err)
	}
	if got := idp.fetches.Load(); got != 2 {
		t.Errorf("JWKS fetches = %d, want 2", got)
	}
	// Unknown kids within 30s of the last fetch cause no fetch.
	k3 := rsaKeys()[2]
	for range 5 {
		_, err := v.Validate(ctx, sign(t, jwt.SigningMethodRS256, "k3", k3, appClaims(clock.Now())))
		wantTokenRejected(t, err, "")
	}
	if got := idp.fetches.Load(); got != 2 {
		t.Errorf("JWKS fetches after 5 unknown-kid tokens = %d, want 2 (rate-limited)", got)
	}
	idp.setKeys(rsaJWK("k3", k3))
	clock.Add(10 * time.Second)
	_, err := v.Validate(ctx, sign(t, jwt.SigningMethodRS256, "k3", k3, appClaims(clock.Now())))
	wantTokenRejected(t, err, "")
	clock.Add(21 * time.Second)
	if _, err := v.Validate(ctx, sign(t, jwt.SigningMethodRS256, "k3", k3, appClaims(clock.Now()))); err != nil {
		t.Fatalf("k3 token after the interval: %v", err)
	}
	if got := idp.fetches.Load(); got != 3 {
		t.Errorf("JWKS fetches = %d, want 3", got)
	}
	// k1 is gone from the new set.
	_, err = v.Validate(ctx, sign(t, jwt.SigningMethodRS256, "k1", k1, appClaims(clock.Now())))
	wantTokenRejected(t, err, "")
}

func TestKeysUnavailableFailsClosed(t *testing.T) {
	k1 := rsaKeys()[0]
	ctx := context.Background()
	t.Run("unreachable from the start", func(t *testing.T) {
		idp := newTestIdP(t, "https://sts.windows.net/"+testTenant+"/")
		clock := &fakeClock{t: t0}
		v := newEntraValidator(t, idp, clock, nil)
		idp.srv.Close()
		_, err := v.Validate(ctx, sign(t, jwt.SigningMethodRS256, "k1", k1, appClaims(t0)))
		wantTokenRejected(t, err, "")
		if !errors.Is(err, ErrKeysUnavailable) {
			t.Errorf("cause = %v, want ErrKeysUnavailable", err)
		}
		if err := v.Prefetch(ctx); !errors.Is(err, ErrKeysUnavailable) {
			t.Errorf("Prefetch = %v, want ErrKeysUnavailable", err)
		}
	})
	t.Run("stale keys serve until max stale", func(t *testing.T) {
		idp := newTestIdP(t, "https://sts.windows.net/"+testTenant+"/")
		idp.setKeys(rsaJWK("k1", k1))
		clock := &fakeClock{t: t0}
		v := newEntraValidator(t, idp, clock, nil)
		if err := v.Prefetch(ctx); err != nil {
			t.Fatal(err)
		}
		idp.down.Store(true)
		clock.Add(2 * time.Hour) // past the refresh age: refresh fails, old keys stay
		if _, err := v.Validate(ctx, sign(t, jwt.SigningMethodRS256, "k1", k1, appClaims(clock.Now()))); err != nil {
			t.Fatalf("with stale keys: %v", err)
		}
		clock.Add(23 * time.Hour)
		_, err := v.Validate(ctx, sign(t, jwt.SigningMethodRS256, "k1", k1, appClaims(clock.Now())))
		if !errors.Is(err, ErrKeysUnavailable) {
			t.Errorf("past max stale: err = %v, want ErrKeysUnavailable", err)
		}
	})
	t.Run("empty JWKS", func(t *testing.T) {
		idp := newTestIdP(t, "https://sts.windows.net/"+testTenant+"/")
		idp.setKeys(map[string]string{"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB"}, map[string]string{"kty": "oct", "kid": "h", "k": "c2VjcmV0"})
		v := newEntraValidator(t, idp, &fakeClock{t: t0}, nil)
		_, err := v.Validate(ctx, sign(t, jwt.SigningMethodRS256, "small", k1, appClaims(t0)))
		if !errors.Is(err, ErrKeysUnavailable) {
			t.Errorf("err = %v, want ErrKeysUnavailable", err)
		}
	})
}

// TestFetchOutlivesCanceledRequest: a caller that gives up leaves at once,
// but the shared key fetch it started does not inherit its cancellation:
// the next caller finds the keys without a second fetch.
func TestFetchOutlivesCanceledRequest(t *testing.T) {
	k1 := rsaKeys()[0]
	idp := newTestIdP(t, "https://sts.windows.net/"+testTenant+"/")
	idp.setKeys(rsaJWK("k1", k1))
	v := newEntraValidator(t, idp, &fakeClock{t: t0}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	token := sign(t, jwt.SigningMethodRS256, "k1", k1, appClaims(t0))
	_, _ = v.Validate(ctx, token) // may or may not have the keys in time
	for v.issuers[0].keys.flights.inFlight("") {
		time.Sleep(time.Millisecond)
	}
	if _, err := v.Validate(context.Background(), token); err != nil {
		t.Fatalf("Validate after the canceled caller's fetch: %v", err)
	}
	if n := idp.fetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1", n)
	}
}

func TestIssuerConfig(t *testing.T) {
	tests := []struct {
		name    string
		is      Issuer
		wantErr string
	}{
		{name: "entra defaults", is: Issuer{TenantID: testTenant}},
		{name: "loopback http", is: Issuer{Issuer: "http://127.0.0.1:8080/x"}},
		{name: "localhost http", is: Issuer{Issuer: "x", JWKSURL: "http://localhost:1/keys"}},
		{name: "ipv6 loopback", is: Issuer{Issuer: "x", DiscoveryURL: "http://[::1]:9/d"}},
		{name: "remote http", is: Issuer{Issuer: "http://idp.example.com"}, wantErr: "want https"},
		{name: "remote http jwks", is: Issuer{TenantID: testTenant, JWKSURL: "http://10.0.0.1/keys"}, wantErr: "want https"},
		{name: "both", is: Issuer{TenantID: testTenant, Issuer: "https://x"}, wantErr: "not both"},
		{name: "neither", is: Issuer{}, wantErr: "set a tenant ID"},
		{name: "tenant not a GUID", is: Issuer{TenantID: "contoso.onmicrosoft.com"}, wantErr: "not a GUID"},
		{name: "negative skew", is: Issuer{TenantID: testTenant, ClockSkew: -time.Second}, wantErr: "negative"},
		{name: "empty audience", is: Issuer{TenantID: testTenant, Audiences: []string{" "}}, wantErr: "empty audience"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewValidator([]Issuer{tt.is}, ValidatorOptions{})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want mention of %q", err, tt.wantErr)
			}
		})
	}
}
