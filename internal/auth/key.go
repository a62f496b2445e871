package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Moat API keys look like
//
//	moat_<id>_<secret>
//
// where id is 12 lower-case hex characters (48 random bits, not secret: it
// names the key in logs, limits and RBAC and is the store's lookup key, so
// verification never scans) and secret is 32 random bytes in unpadded
// base64url (43 characters). The key never holds a '.', so it cannot be
// mistaken for a JWT (three dot-separated segments starting "eyJ"), and the
// fixed prefix lets secret scanners find leaked keys.
//
// Azure-style resource keys (key1/key2: 32 hex characters, or any other
// high-entropy string of 32+ characters configured as a secret) are
// "static keys": they carry no ID, so stores find them by their hash.
const (
	keyPrefix    = "moat_"
	keyIDLen     = 12
	keySecretLen = 43 // base64url of 32 bytes, unpadded
	// MinStaticKeyLen is the shortest static key accepted: Azure's are 32 hex
	// characters (128 bits).
	MinStaticKeyLen = 32
	maxKeyLen       = 512
)

// KeyLimits are a key's own rate limits; zero means no key-level limit.
type KeyLimits struct {
	TPM int
	RPM int
}

// Key is an API key as stored: its hash, never its secret, plus what it may
// do. Keys are values shared between goroutines once stored; never mutate a
// Key returned by a store, Put a copy instead.
type Key struct {
	// ID names the key (the <id> of moat_<id>_<secret>, or a static key's
	// configured name). Not secret.
	ID    string
	Name  string
	Owner string
	// Team owns the key (package team): its calls are logged, costed and
	// budgeted under it. Empty means no team.
	Team        string
	Description string
	// Hash is Hasher.Hash of the full plaintext key.
	Hash []byte
	// Deployments the key may call: names or '*' globs; empty means all.
	Deployments []string
	// Operations the key may call: short names from openai.Operations();
	// empty means all.
	Operations []string
	// ExpiresAt is when the key stops working; zero means never.
	ExpiresAt time.Time
	// RevokedAt is when the key was (or will be) revoked; zero means not revoked.
	RevokedAt time.Time
	CreatedAt time.Time
	Limits    KeyLimits
}

// Allows says whether the key may call operation on deployment at now.
// deployment is empty for operations that name no deployment (model
// listing); the deployment list does not restrict those. The error wraps
// ErrKeyRevoked, ErrKeyExpired or ErrKeyScope.
func (k *Key) Allows(deployment, operation string, now time.Time) error {
	if err := k.Active(now); err != nil {
		return err
	}
	if len(k.Deployments) > 0 && deployment != "" && !matchAny(k.Deployments, deployment) {
		return fmt.Errorf("key %s: deployment %q: %w", k.ID, deployment, ErrKeyScope)
	}
	if len(k.Operations) > 0 && !containsFold(k.Operations, operation) {
		return fmt.Errorf("key %s: operation %q: %w", k.ID, operation, ErrKeyScope)
	}
	return nil
}

func matchAny(globs []string, s string) bool {
	for _, g := range globs {
		if globMatch(g, s) {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// globMatch matches s against a pattern where '*' stands for any run of
// characters; deployment names compare exactly. It mirrors rbac's scope
// globs (kept separate so that auth and rbac stay independent leaves).
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	rest := s[len(first) : len(s)-len(last)]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, mid)
		if i < 0 {
			return false
		}
		rest = rest[i+len(mid):]
	}
	return true
}

// Hasher turns plaintext keys into their stored form: HMAC-SHA256 keyed
// with the server pepper when one is configured, else plain SHA-256 (enough
// for 128+ bit random keys: there is nothing to brute-force). Changing the
// pepper invalidates every stored hash, so it is set once per deployment.
type Hasher struct {
	pepper []byte
}

// NewHasher returns a Hasher; pepper may be nil.
func NewHasher(pepper []byte) Hasher {
	return Hasher{pepper: append([]byte(nil), pepper...)}
}

// Hash returns the stored form of plaintext.
func (h Hasher) Hash(plaintext string) []byte {
	if len(h.pepper) == 0 {
		// A key of usual length is copied to the stack rather than
		// converted, which would allocate: every call hashes its key.
		var buf [128]byte
		var b []byte
		if len(plaintext) <= len(buf) {
			b = append(buf[:0], plaintext...)
		} else {
			b = []byte(plaintext)
		}
		sum := sha256.Sum256(b)
		return sum[:]
	}
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte(plaintext))
	return m.Sum(nil)
}

// Equal reports, in constant time, whether plaintext hashes to stored.
func (h Hasher) Equal(plaintext string, stored []byte) bool {
	return subtle.ConstantTimeCompare(h.Hash(plaintext), stored) == 1
}

// KeyMaterial is a freshly generated key's public half: its ID and hash.
// The plaintext is returned once, to the caller, and never stored.
type KeyMaterial struct {
	ID   string
	Hash []byte
}

// GenerateKey makes a new moat_<id>_<secret> key from crypto/rand.
func (h Hasher) GenerateKey() (plaintext string, k KeyMaterial, err error) {
	var id [keyIDLen / 2]byte
	var secret [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", KeyMaterial{}, fmt.Errorf("generate key id: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", KeyMaterial{}, fmt.Errorf("generate key secret: %w", err)
	}
	k.ID = hex.EncodeToString(id[:])
	plaintext = keyPrefix + k.ID + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	k.Hash = h.Hash(plaintext)
	return plaintext, k, nil
}

// ParseKeyID returns the ID of a moat_<id>_<secret> key, and false for any
// other string (a static key, or garbage).
func ParseKeyID(plaintext string) (string, bool) {
	if len(plaintext) != len(keyPrefix)+keyIDLen+1+keySecretLen || !strings.HasPrefix(plaintext, keyPrefix) {
		return "", false
	}
	id := plaintext[len(keyPrefix) : len(keyPrefix)+keyIDLen]
	if plaintext[len(keyPrefix)+keyIDLen] != '_' {
		return "", false
	}
	for i := 0; i < len(id); i++ {
		if !('0' <= id[i] && id[i] <= '9' || 'a' <= id[i] && id[i] <= 'f') {
			return "", false
		}
	}
	for _, c := range []byte(plaintext[len(keyPrefix)+keyIDLen+1:]) {
		if !isBase64URL(c) {
			return "", false
		}
	}
	return id, true
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// NewStaticKey builds the stored form of a configured Azure-style key
// (key1/key2). The ID is its configured name; stores find it by hash.
func NewStaticKey(name, secret string, h Hasher, now time.Time) (*Key, error) {
	if name == "" {
		return nil, fmt.Errorf("static key: empty name")
	}
	if len(secret) < MinStaticKeyLen || len(secret) > maxKeyLen {
		return nil, fmt.Errorf("static key %s: want %d to %d characters", name, MinStaticKeyLen, maxKeyLen)
	}
	if _, ok := ParseKeyID(secret); ok {
		return nil, fmt.Errorf("static key %s: a moat_ key is not a static key; declare it by ID and hash", name)
	}
	for _, c := range []byte(secret) {
		if c <= ' ' || c >= 0x7f {
			return nil, fmt.Errorf("static key %s: only printable ASCII without spaces", name)
		}
	}
	return &Key{ID: name, Name: name, Hash: h.Hash(secret), CreatedAt: now}, nil
}
