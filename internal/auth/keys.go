package auth

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// KeyVerifierOptions configure a KeyVerifier.
type KeyVerifierOptions struct {
	// Stores are consulted in order; the first that knows a key wins.
	// Typically the config MemKeyStore, then the database store. In-memory
	// stores (MemKeyStore) are read directly; the others through the cache.
	Stores []KeyStore
	// Hasher must be the one the stored hashes were made with.
	Hasher Hasher
	// Cache holds what the stores answered. The gateway shares one across
	// config reloads; nil means a private cache built from CacheOptions.
	Cache *KeyCache
	// CacheOptions configure the private cache when Cache is nil.
	CacheOptions KeyCacheOptions
	// CacheTTL, when set, overrides CacheOptions.TTL; negative disables the
	// private cache.
	CacheTTL time.Duration
	// MaxCacheEntries, when set, overrides CacheOptions.Size.
	MaxCacheEntries int
	// StoreTimeout bounds each store lookup; zero means DefaultStoreTimeout.
	// A caller never waits longer than this (or its own context) for a
	// store, however the store fails.
	StoreTimeout time.Duration
	// Logger receives one line when the store starts failing and one when
	// it recovers; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// KeyVerifier checks presented API keys against the stores.
type KeyVerifier struct {
	local   []inMemory // in memory: no cache, no deadline needed
	remote  []KeyStore // behind the cache and the deadline
	hasher  Hasher
	cache   *KeyCache
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time
	flights flightGroup[*Key]
}

// inMemory is implemented by stores that answer from memory, never fail
// and need no cache in front of them. find is their lookup without an
// error for a miss: a stored key is missing from the configuration's store
// on every call, and wrapping ErrKeyNotFound with its ID each time was a
// format and two allocations per call.
type inMemory interface {
	find(q keyQuery) *Key
}

// NewKeyVerifier returns a verifier over the stores.
func NewKeyVerifier(o KeyVerifierOptions) (*KeyVerifier, error) {
	if len(o.Stores) == 0 {
		return nil, errors.New("key verifier: no key stores")
	}
	v := &KeyVerifier{hasher: o.Hasher, cache: o.Cache, timeout: cmp.Or(o.StoreTimeout, DefaultStoreTimeout),
		log: o.Logger, now: o.Now}
	for _, s := range o.Stores {
		if m, ok := s.(inMemory); ok {
			v.local = append(v.local, m)
		} else {
			v.remote = append(v.remote, s)
		}
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.cache == nil {
		co := o.CacheOptions
		co.TTL = cmp.Or(o.CacheTTL, co.TTL)
		co.Size = cmp.Or(o.MaxCacheEntries, co.Size)
		if co.Now == nil {
			co.Now = v.now
		}
		v.cache = NewKeyCache(co)
	}
	return v, nil
}

// Cache returns the verifier's cache.
func (v *KeyVerifier) Cache() *KeyCache { return v.cache }

// Verify returns the key that plaintext proves, or an error wrapping
// ErrKeyNotFound, ErrKeyMismatch, ErrKeyRevoked, ErrKeyExpired or
// ErrKeyUnverifiable (the store cannot be asked and the cache does not know
// the key). The plaintext never appears in an error.
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
		k, err = v.lookup(ctx, keyQuery{id: id})
		if err == nil && k == nil {
			err = fmt.Errorf("key %s: %w", id, ErrKeyNotFound)
		}
		if err != nil && errors.Is(err, ErrKeyUnverifiable) {
			err = fmt.Errorf("key %s: %w", id, err)
		}
	} else {
		if len(plaintext) < MinStaticKeyLen {
			return nil, fmt.Errorf("static key of length %d: %w", len(plaintext), ErrKeyNotFound)
		}
		k, err = v.lookup(ctx, keyQuery{hash: hash})
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

// keyQuery is what a key is looked up by: its ID (moat_ keys) or, when
// that is empty, its hash (static keys). A value rather than a closure, so
// that a key found in memory, as most are, costs no allocation to ask for.
type keyQuery struct {
	id   string
	hash []byte
}

// get asks one store.
func (q keyQuery) get(ctx context.Context, s KeyStore) (*Key, error) {
	if q.id != "" {
		return s.Get(ctx, q.id)
	}
	hi, ok := s.(HashIndex)
	if !ok {
		return nil, ErrKeyNotFound
	}
	return hi.GetByHash(ctx, q.hash)
}

// cacheKey names the key in the cache.
func (q keyQuery) cacheKey() string {
	if q.id != "" {
		return idCacheKey(q.id)
	}
	return "h" + string(q.hash)
}

// lookup asks the in-memory stores, then the cache, then the other stores.
// A nil key with a nil error means no store knows it.
func (v *KeyVerifier) lookup(ctx context.Context, q keyQuery) (*Key, error) {
	for _, s := range v.local {
		if k := s.find(q); k != nil {
			return k, nil
		}
	}
	if len(v.remote) == 0 {
		return nil, nil
	}
	ck := q.cacheKey()
	k, state, down := v.cache.lookup(ck)
	switch state {
	case stateFresh, stateStaleUsable:
		return k, nil
	case stateMiss, stateStale:
		if down {
			// Fail fast: the store failed a moment ago and nothing usable
			// is cached (never seen, or past MaxStale), so the key cannot
			// be verified now.
			return nil, fmt.Errorf("%w: the key store failed within the last %s", ErrKeyUnverifiable, storeRetryInterval)
		}
	}
	gen := v.cache.generation()
	found, err := v.flights.do(ctx, ck, func() (*Key, error) { return v.fetch(ctx, q) })
	if err == nil {
		if v.cache.put(ck, found, gen) {
			v.log.Info("key store answers again")
		}
		return found, nil
	}
	if ctx.Err() == nil {
		v.failed(err)
	}
	if stale := v.cache.usable(ck); stale != nil {
		return stale, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrKeyUnverifiable, err)
}

// fetch asks the remote stores in order, under the store deadline. It runs
// detached from the caller that started it, since it serves every caller
// waiting for the same key.
func (v *KeyVerifier) fetch(ctx context.Context, q keyQuery) (*Key, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.timeout)
	defer cancel()
	return firstKnown(ctx, v.remote, q)
}

// firstKnown asks stores in order and returns the first key found. A nil
// key with a nil error means none of them knows it.
func firstKnown(ctx context.Context, stores []KeyStore, q keyQuery) (*Key, error) {
	for _, s := range stores {
		k, err := q.get(ctx, s)
		if errors.Is(err, ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("look up key: %w", err)
		}
		return k, nil
	}
	return nil, nil
}

func (v *KeyVerifier) failed(err error) {
	if v.cache.failed() {
		v.log.Warn("key store failed; serving known keys from the cache", "err", err,
			"max_stale", v.cache.o.MaxStale, "retry_every", storeRetryInterval)
	}
}

// Invalidate drops the cached lookup of key id, so that a revocation made
// by this process (or notified by the store) is effective at once.
func (v *KeyVerifier) Invalidate(id string) { v.cache.Invalidate(id) }

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
