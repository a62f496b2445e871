package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultKeyCacheTTL bounds how stale a cached key may be: a key revoked in a
// store stops working on every replica within this time (sooner on the
// replica that revoked it, which calls Invalidate).
const DefaultKeyCacheTTL = time.Second

// KeyVerifierOptions configure a KeyVerifier.
type KeyVerifierOptions struct {
	// Stores are consulted in order; the first that knows a key wins.
	// Typically the config MemKeyStore, then the database store.
	Stores []KeyStore
	// Hasher must be the one the stored hashes were made with.
	Hasher Hasher
	// CacheTTL is how long a lookup (found or not) is reused; zero means
	// DefaultKeyCacheTTL, negative disables the cache.
	CacheTTL time.Duration
	// MaxCacheEntries bounds the cache (garbage key IDs must not grow it
	// without limit); zero means 10,000. When full, the cache is emptied.
	MaxCacheEntries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// KeyVerifier checks presented API keys against the stores.
type KeyVerifier struct {
	stores  []KeyStore
	hasher  Hasher
	ttl     time.Duration
	max     int
	now     func() time.Time
	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	key     *Key // nil: not found
	expires time.Time
}

// NewKeyVerifier returns a verifier over the stores.
func NewKeyVerifier(o KeyVerifierOptions) (*KeyVerifier, error) {
	if len(o.Stores) == 0 {
		return nil, errors.New("key verifier: no key stores")
	}
	v := &KeyVerifier{stores: o.Stores, hasher: o.Hasher, ttl: o.CacheTTL, max: o.MaxCacheEntries, now: o.Now,
		entries: map[string]cacheEntry{}}
	if v.ttl == 0 {
		v.ttl = DefaultKeyCacheTTL
	}
	if v.max <= 0 {
		v.max = 10000
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Verify returns the key that plaintext proves, or an error wrapping
// ErrKeyNotFound, ErrKeyMismatch, ErrKeyRevoked or ErrKeyExpired (any other
// error is a store failure). The plaintext never appears in an error.
//
// The lookup is by ID (moat_ keys) or by hash (static keys), never a scan;
// the final comparison of hashes is constant-time.
func (v *KeyVerifier) Verify(ctx context.Context, plaintext string) (*Key, error) {
	if plaintext == "" || len(plaintext) > maxKeyLen {
		return nil, fmt.Errorf("key of length %d: %w", len(plaintext), ErrKeyNotFound)
	}
	hash := v.hasher.Hash(plaintext)
	var (
		k   *Key
		err error
	)
	if id, ok := ParseKeyID(plaintext); ok {
		k, err = v.lookup("i"+id, func(s KeyStore) (*Key, error) { return s.Get(ctx, id) })
		if err == nil && k == nil {
			err = fmt.Errorf("key %s: %w", id, ErrKeyNotFound)
		}
	} else {
		if len(plaintext) < MinStaticKeyLen {
			return nil, fmt.Errorf("static key of length %d: %w", len(plaintext), ErrKeyNotFound)
		}
		k, err = v.lookup("h"+string(hash), func(s KeyStore) (*Key, error) {
			hi, ok := s.(HashIndex)
			if !ok {
				return nil, ErrKeyNotFound
			}
			return hi.GetByHash(ctx, hash)
		})
		if err == nil && k == nil {
			err = fmt.Errorf("static key: %w", ErrKeyNotFound)
		}
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(hash, k.Hash) != 1 {
		return nil, fmt.Errorf("key %s: %w", k.ID, ErrKeyMismatch)
	}
	if err := k.Active(v.now()); err != nil {
		return nil, err
	}
	return k, nil
}

// lookup consults the cache, then the stores in order. A nil key with a nil
// error means no store knows it. Store failures are not cached.
func (v *KeyVerifier) lookup(cacheKey string, get func(KeyStore) (*Key, error)) (*Key, error) {
	now := v.now()
	if v.ttl > 0 {
		v.mu.Lock()
		e, ok := v.entries[cacheKey]
		v.mu.Unlock()
		if ok && now.Before(e.expires) {
			return e.key, nil
		}
	}
	var found *Key
	for _, s := range v.stores {
		k, err := get(s)
		if errors.Is(err, ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("look up key: %w", err)
		}
		found = k
		break
	}
	if v.ttl > 0 {
		v.mu.Lock()
		if len(v.entries) >= v.max {
			clear(v.entries)
		}
		v.entries[cacheKey] = cacheEntry{key: found, expires: now.Add(v.ttl)}
		v.mu.Unlock()
	}
	return found, nil
}

// Invalidate drops the cached lookup of key id (and every static-key entry,
// which are cached by hash), so that a revocation made by this process is
// effective at once.
func (v *KeyVerifier) Invalidate(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.entries, "i"+id)
	for k, e := range v.entries {
		if k[0] == 'h' && (e.key == nil || e.key.ID == id) {
			delete(v.entries, k)
		}
	}
}

// Active reports whether the key is neither revoked nor expired at now.
func (k *Key) Active(now time.Time) error {
	if !k.RevokedAt.IsZero() && !now.Before(k.RevokedAt) {
		return fmt.Errorf("key %s: %w", k.ID, ErrKeyRevoked)
	}
	if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return fmt.Errorf("key %s: %w", k.ID, ErrKeyExpired)
	}
	return nil
}
