package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Test signing keys are generated once per test binary: RSA generation is
// slow under -race and the keys carry no state.
var (
	rsaKeys = sync.OnceValue(func() []*rsa.PrivateKey {
		var ks []*rsa.PrivateKey
		for range 3 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			ks = append(ks, k)
		}
		return ks
	})
	ecKey = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

const testTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

// testIdP serves a discovery document and a JWKS whose keys a test can
// swap, and counts JWKS fetches.
type testIdP struct {
	srv     *httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	issuer  string
	fetches atomic.Int32
	down    atomic.Bool
}

func newTestIdP(t *testing.T, issuer string) *testIdP {
	t.Helper()
	p := &testIdP{issuer: issuer}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": p.issuer, "jwks_uri": p.srv.URL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": p.keys})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *testIdP) discovery() string { return p.srv.URL + "/.well-known/openid-configuration" }

// setKeys replaces the served JWKS.
func (p *testIdP) setKeys(keys ...map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = keys
}

func rsaJWK(kid string, k *rsa.PrivateKey) map[string]string {
	return map[string]string{"kty": "RSA", "use": "sig", "kid": kid,
		"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(kid string, k *ecdsa.PrivateKey) map[string]string {
	b, err := k.PublicKey.Bytes()
	if err != nil {
		panic(err)
	}
	return map[string]string{"kty": "EC", "use": "sig", "kid": kid, "crv": "P-256",
		"x": base64.RawURLEncoding.EncodeToString(b[1:33]), "y": base64.RawURLEncoding.EncodeToString(b[33:])}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
	// onNow, if set, is called (once, then cleared) at the call of Now
	// numbered nowCall counting from 1, before it answers.
	onNow   func()
	nowCall int
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	var hook func()
	if c.onNow != nil {
		if c.nowCall--; c.nowCall == 0 {
			hook, c.onNow = c.onNow, nil
		}
	}
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// appClaims are v1 managed-identity claims (wire reference §4.3) at now.
func appClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"aud": AudienceCognitiveServices, "iss": "https://sts.windows.net/" + testTenant + "/",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"appid": "5e29463d-71da-4fe0-8e69-999b57db23b0", "appidacr": "2", "idtyp": "app",
		"oid": "00000000-1111-2222-3333-444444444444", "sub": "00000000-1111-2222-3333-444444444444",
		"tid": testTenant, "ver": "1.0",
	}
}

func sign(t *testing.T, method jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
