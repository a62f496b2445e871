package idp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/auth"
)

const (
	tenant      = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	header      = "local-identity-header-0123456789"
	scope       = "https://cognitiveservices.azure.com/.default"
	sysClient   = "5e29463d-71da-4fe0-8e69-999b57db23b0"
	sysObject   = "11111111-0000-0000-0000-000000000001"
	userClient  = "6f29463d-71da-4fe0-8e69-999b57db23b1"
	userObject  = "11111111-0000-0000-0000-000000000002"
	userMIRID   = "/subscriptions/0/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/moat"
	spClient    = "7a29463d-71da-4fe0-8e69-999b57db23b2"
	spObject    = "11111111-0000-0000-0000-000000000003"
	spSecret    = "sp-secret-value"
	defaultName = "system"
)

// testKey is generated once: RSA generation is slow under -race.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func identities() []Identity {
	return []Identity{
		{Name: defaultName, ClientID: sysClient, ObjectID: sysObject, Managed: true},
		{Name: "user-assigned", ClientID: userClient, ObjectID: userObject, Managed: true, ResourceID: userMIRID, Roles: []string{"Moat.Caller"}},
		{Name: "service-principal", ClientID: spClient, ObjectID: spObject, ClientSecret: spSecret},
	}
}

// start serves a new issuer on httptest and returns it with its base URL.
func start(t *testing.T, mutate func(*Options)) (*Issuer, string) {
	t.Helper()
	o := Options{TenantID: tenant, Identities: identities(), IdentityHeader: header, Key: testKey()}
	if mutate != nil {
		mutate(&o)
	}
	iss, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(iss.Handler())
	t.Cleanup(srv.Close)
	return iss, srv.URL
}

func validator(t *testing.T, base string, now func() time.Time) *auth.Validator {
	t.Helper()
	v, err := auth.NewValidator([]auth.Issuer{{TenantID: tenant, DiscoveryURL: base + DiscoveryPath}}, auth.ValidatorOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// managedIdentityEnv points azidentity at the issuer as App Service would,
// and clears every variable that would make another credential win.
func TestTokenClaims(t *testing.T) {
	iss, _ := start(t, nil)
	tok, _, err := iss.Mint(userClient, "https://cognitiveservices.azure.com")
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(mustSegment(t, tok, 1), &claims); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"iss": "https://sts.windows.net/" + tenant + "/", "aud": "https://cognitiveservices.azure.com", "appid": userClient,
		"oid": userObject, "sub": userObject, "tid": tenant, "idtyp": "app", "ver": "1.0", "xms_mirid": userMIRID,
	} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 3600 {
		t.Errorf("lifetime %v s, want 3600", exp-iat)
	}
	if _, _, err := iss.Mint("nobody", "x"); err == nil {
		t.Error("Mint for an unknown client succeeded")
	}
}

func mustSegment(t *testing.T, tok string, i int) []byte {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	b, err := base64URL(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRotateKey: tokens signed after a rotation validate once the
// validator refreshes on the new kid; tokens signed before still validate.
func TestRotateKey(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	iss, base := start(t, func(o *Options) { o.Now = clock; o.Key = nil })
	v := validator(t, base, clock)
	ctx := context.Background()
	old, _, _ := iss.Mint(spClient, "https://cognitiveservices.azure.com")
	if _, err := v.Validate(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := iss.RotateKey(); err != nil {
		t.Fatal(err)
	}
	fresh, _, _ := iss.Mint(spClient, "https://cognitiveservices.azure.com")
	if mustHeaderKid(t, fresh) == mustHeaderKid(t, old) {
		t.Fatal("rotation kept the kid")
	}
	mu.Lock()
	now = now.Add(31 * time.Second)
	mu.Unlock()
	for _, tok := range []string{fresh, old} {
		if _, err := v.Validate(ctx, tok); err != nil {
			t.Errorf("after rotation: %v", err)
		}
	}
}

func mustHeaderKid(t *testing.T, tok string) string {
	var h struct{ Kid string }
	if err := json.Unmarshal(mustSegment(t, tok, 0), &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

func TestDiscovery(t *testing.T) {
	_, base := start(t, nil)
	resp, err := http.Get(base + DiscoveryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc["issuer"] != "https://sts.windows.net/"+tenant+"/" || doc["jwks_uri"] != base+JWKSPath || doc["token_endpoint"] != base+TokenPath {
		t.Errorf("discovery = %v", doc)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name    string
		o       Options
		wantErr string
	}{
		{name: "no identities", o: Options{}, wantErr: "no identities"},
		{name: "missing IDs", o: Options{Identities: []Identity{{Name: "x", ClientSecret: "s"}}}, wantErr: "required"},
		{name: "duplicate client", o: Options{Identities: []Identity{{ClientID: "a", ObjectID: "1", ClientSecret: "s"}, {ClientID: "A", ObjectID: "2", ClientSecret: "s"}}}, wantErr: "used twice"},
		{name: "unusable", o: Options{Identities: []Identity{{Name: "u", ClientID: "a", ObjectID: "1"}}}, wantErr: "unusable"},
		{name: "short header", o: Options{IdentityHeader: "short", Identities: []Identity{{ClientID: "a", ObjectID: "1", Managed: true}}}, wantErr: "16+"},
		{name: "system not managed", o: Options{SystemAssigned: "b", IdentityHeader: header, Identities: []Identity{{ClientID: "a", ObjectID: "1", Managed: true}, {ClientID: "b", ObjectID: "2", ClientSecret: "s"}}}, wantErr: "not a managed identity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Key = testKey()
			_, err := New(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New = %v, want mention of %q", err, tt.wantErr)
			}
		})
	}
	iss, err := New(Options{Key: testKey(), Identities: []Identity{{ClientID: "a", ObjectID: "1", ClientSecret: "s"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(iss.TenantID()) != 36 || iss.IssuerURL() != "https://sts.windows.net/"+iss.TenantID()+"/" {
		t.Errorf("random tenant %q, issuer %q", iss.TenantID(), iss.IssuerURL())
	}
}

func TestParsePrivateKeyPEM(t *testing.T) {
	k := testKey()
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"pkcs1": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}),
		"pkcs8": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParsePrivateKeyPEM(b)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(k) {
				t.Error("parsed a different key")
			}
		})
	}
	if _, err := ParsePrivateKeyPEM([]byte("not pem")); err == nil {
		t.Error("accepted garbage")
	}
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
