package studio

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"
)

// Session is a signed-in browser. It lives server-side; the cookie holds
// only its random ID, whose SHA-256 is the store key, so the store never
// holds a usable cookie value.
type Session struct {
	// CSRF is the token every state change must echo in CSRFHeader.
	CSRF string `json:"csrf"`
	// Principal is the signed-in principal's display ID (UPN, object ID or
	// key ID), "anonymous" when the gateway accepts anonymous calls.
	Principal string `json:"principal"`
	// AuthType is how the principal signed in: "oidc", "key" or "none".
	AuthType string `json:"auth_type"`
	// Header and Credential are what the studio sends on the principal's
	// behalf: "Authorization" with "Bearer <token>", or "api-key" with the
	// key. Never sent to the browser.
	Header     string `json:"header,omitempty"`
	Credential string `json:"credential,omitempty"`
	// Verifier and RedirectURI belong to a pending sign-in (between the
	// redirect to the issuer and the callback): the PKCE code verifier and
	// the redirect_uri the code is bound to.
	Verifier    string `json:"verifier,omitempty"`
	RedirectURI string `json:"redirect_uri,omitempty"`
	// Expires is when the session ends, whatever the cookie says: the
	// configured lifetime, or the access token's expiry if sooner.
	Expires time.Time `json:"expires"`
}

// SessionStore keeps sessions and pending sign-ins until they expire.
// Keys are opaque strings chosen by the studio.
type SessionStore interface {
	// Put stores s under key until s.Expires.
	Put(ctx context.Context, key string, s Session) error
	// Get returns the session, or ok false when it is absent or expired.
	Get(ctx context.Context, key string) (s Session, ok bool, err error)
	// Delete removes the session; absent keys are not an error.
	Delete(ctx context.Context, key string) error
}

// MemorySessions is a SessionStore in this process's memory: sessions end
// with the process and are not shared by replicas (a load balancer in
// front of several replicas needs session affinity for the studio).
type MemorySessions struct {
	mu   sync.Mutex
	m    map[string]Session
	now  func() time.Time
	puts int
}

// NewMemorySessions returns an empty store; now is the clock (nil: time.Now).
func NewMemorySessions(now func() time.Time) *MemorySessions {
	if now == nil {
		now = time.Now
	}
	return &MemorySessions{m: map[string]Session{}, now: now}
}

// Put implements SessionStore. Every 64th Put sweeps expired sessions, so
// abandoned ones do not pile up.
func (m *MemorySessions) Put(_ context.Context, key string, s Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.puts++
	if m.puts%64 == 0 {
		now := m.now()
		for k, v := range m.m {
			if !now.Before(v.Expires) {
				delete(m.m, k)
			}
		}
	}
	m.m[key] = s
	return nil
}

// Get implements SessionStore.
func (m *MemorySessions) Get(_ context.Context, key string) (Session, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[key]
	if !ok {
		return Session{}, false, nil
	}
	if !m.now().Before(s.Expires) {
		delete(m.m, key)
		return Session{}, false, nil
	}
	return s, true, nil
}

// Delete implements SessionStore.
func (m *MemorySessions) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, key)
	return nil
}

// Len is the number of sessions held, expired ones included until swept.
func (m *MemorySessions) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}

// randomToken returns 32 random bytes, base64url: session IDs, CSRF
// tokens, OAuth state and PKCE verifiers (43 characters, RFC 7636 §4.1).
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// storeKey is the store key of a session ID.
func storeKey(prefix, id string) string {
	sum := sha256.Sum256([]byte(id))
	return prefix + hex.EncodeToString(sum[:])
}

// CSRFHeader carries the session's CSRF token on state changes.
const CSRFHeader = "X-CSRF-Token"

var errCSRF = errors.New("studio: state change without the session's CSRF token")

// checkCSRF reports whether r echoes the session's CSRF token. Reading
// methods need none; everything else does.
func checkCSRF(r *http.Request, s Session) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" || s.CSRF == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) != 1 {
		return errCSRF
	}
	return nil
}

// cookies names and sets the studio's cookies. With TLS they are Secure
// and carry the __Host- prefix, which browsers accept only from a secure
// origin with Path=/ and no Domain, so no other host can plant them.
type cookies struct {
	secure bool
}

func (c cookies) name(base string) string {
	if c.secure {
		return "__Host-" + base
	}
	return base
}

// session is the session cookie: SameSite=Strict, so no other site's page,
// link or form ever sends it.
func (c cookies) session(w http.ResponseWriter, id string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: c.name(sessionCookie), Value: id, Path: "/", Expires: expires,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteStrictMode})
}

// login is the cookie that binds a pending sign-in to this browser. It is
// SameSite=Lax because the issuer's redirect back is a cross-site top-level
// navigation, which Strict cookies miss.
func (c cookies) login(w http.ResponseWriter, state string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: c.name(loginCookie), Value: state, Path: "/", Expires: expires,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
}

func (c cookies) clear(w http.ResponseWriter, base string) {
	http.SetCookie(w, &http.Cookie{Name: c.name(base), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
}

func (c cookies) read(r *http.Request, base string) string {
	ck, err := r.Cookie(c.name(base))
	if err != nil {
		return ""
	}
	return ck.Value
}

const (
	sessionCookie = "moat_studio"
	loginCookie   = "moat_studio_login"
)
