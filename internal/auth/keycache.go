package auth

import (
	"cmp"
	"sync"
	"sync/atomic"
	"time"
)

// Key cache defaults (docs/identity.md explains the trade-offs).
const (
	// DefaultKeyCacheSize is how many known keys the cache holds: enough
	// that 10,000 keys in rotation all stay cached (about 300 bytes each).
	DefaultKeyCacheSize = 100_000
	// DefaultKeyCacheTTL is how long a looked-up key is trusted without
	// asking the store again while no change feed is live: a revocation
	// made elsewhere takes effect on this replica within this time.
	DefaultKeyCacheTTL = time.Second
	// DefaultKeyCacheNotifyTTL is how long a looked-up key is trusted while
	// the store's change feed is live: revocations arrive as notifications,
	// so the TTL only bounds the damage of a notification lost in a way the
	// feed did not notice.
	DefaultKeyCacheNotifyTTL = time.Hour
	// DefaultKeyNegativeTTL is how long "no such key" is remembered: long
	// enough that one made-up key repeated in a flood costs one lookup per
	// period, short enough that a key created on another replica is usable
	// quickly even without a change feed.
	DefaultKeyNegativeTTL = 2 * time.Second
	// DefaultKeyMaxStale is how long a known key keeps working while the
	// store cannot be reached. Its revocation, if one happens in the outage,
	// is noticed only when the store answers again.
	DefaultKeyMaxStale = 15 * time.Minute
	// DefaultStoreTimeout bounds one key lookup in the store.
	DefaultStoreTimeout = 750 * time.Millisecond
	// storeRetryInterval is how long, after a failed lookup, callers are
	// served from the cache without trying the store: one probe per
	// interval instead of every call waiting out the store timeout.
	storeRetryInterval = time.Second
)

// KeyCacheOptions size and age the cache; zero values take the defaults.
type KeyCacheOptions struct {
	// Size bounds the known keys held (the least recently used go first).
	// Unknown keys are held apart, in a tenth of this, so that a flood of
	// made-up keys cannot evict the real ones.
	Size int
	// TTL is how long an entry is fresh while no change feed is live;
	// negative disables the cache (every call asks the store).
	TTL time.Duration
	// NotifyTTL is how long an entry is fresh while a change feed is live.
	NotifyTTL time.Duration
	// NegativeTTL is how long an unknown key is remembered as unknown.
	NegativeTTL time.Duration
	// MaxStale is how long after its last successful lookup a known key is
	// still served when the store fails.
	MaxStale time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o KeyCacheOptions) withDefaults() KeyCacheOptions {
	o.Size = cmp.Or(o.Size, DefaultKeyCacheSize)
	o.TTL = cmp.Or(o.TTL, DefaultKeyCacheTTL)
	o.NotifyTTL = cmp.Or(o.NotifyTTL, DefaultKeyCacheNotifyTTL)
	o.NegativeTTL = cmp.Or(o.NegativeTTL, DefaultKeyNegativeTTL)
	o.MaxStale = cmp.Or(o.MaxStale, DefaultKeyMaxStale)
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// KeyCache holds keys looked up in a store, for KeyVerifiers to share. It
// outlives config reloads (the Server keeps one), so that the last known
// good answer for every key survives both a reload and a store outage.
//
// Entries are fresh for TTL (NotifyTTL while a change feed is live), then
// stale: a stale entry is looked up again, and served as it is only if the
// store fails, up to MaxStale after it was last confirmed. Invalidate drops
// an entry at once, so a revocation never waits for staleness.
type KeyCache struct {
	o        KeyCacheOptions
	disabled bool

	mu       sync.Mutex
	known    *lru[cachedKey] // by "i"+ID
	hashed   *lru[cachedKey] // by "h"+hash: static keys kept in a store, rare
	unknown  *lru[time.Time] // key -> when "not found" stops being trusted
	gen      uint64          // bumped by every invalidation
	live     bool            // a change feed is delivering invalidations
	downTill time.Time       // the store failed; do not ask it before this (zero once it answers again)

	hits, misses, stale, evictions atomic.Int64
}

type cachedKey struct {
	key       *Key
	confirmed time.Time // last time the store returned it
	fresh     time.Time // trusted without a lookup until then
}

// NewKeyCache returns an empty cache.
func NewKeyCache(o KeyCacheOptions) *KeyCache {
	c := &KeyCache{o: o.withDefaults(), disabled: o.TTL < 0}
	c.known = newLRU[cachedKey](c.o.Size)
	c.hashed = newLRU[cachedKey](max(c.o.Size/10, 100))
	c.unknown = newLRU[time.Time](max(c.o.Size/10, 100))
	return c
}

// Options returns the options the cache was built with, defaults filled in.
func (c *KeyCache) Options() KeyCacheOptions { return c.o }

// Live reports whether SetLive(true) is in effect.
func (c *KeyCache) Live() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// lruFor returns the LRU that holds ck's kind of entry.
func (c *KeyCache) lruFor(ck string) *lru[cachedKey] {
	if ck != "" && ck[0] == 'h' {
		return c.hashed
	}
	return c.known
}

// cacheState is what the cache knows about one key.
type cacheState int

const (
	stateMiss        cacheState = iota // never seen, or evicted, or unknown expired
	stateFresh                         // key (or its absence) trusted as is
	stateStale                         // key known, must be looked up again
	stateStaleUsable                   // key known, store is down: serve it
)

// lookup reports the cached key for ck and what may be done with it; a
// fresh entry with a nil key means "no such key". down says, for a miss or
// a stale entry, whether the store failed within storeRetryInterval, read
// under the same lock as the entry: a failure recorded in between by
// another call would otherwise refuse a key that is usable now.
func (c *KeyCache) lookup(ck string) (k *Key, state cacheState, down bool) {
	if c.disabled {
		return nil, stateMiss, false
	}
	now := c.o.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	down = now.Before(c.downTill)
	if e, ok := c.lruFor(ck).get(ck); ok {
		switch {
		case now.Before(e.fresh):
			c.hits.Add(1)
			return e.key, stateFresh, false
		case down && now.Sub(e.confirmed) < c.o.MaxStale:
			c.stale.Add(1)
			return e.key, stateStaleUsable, false
		}
		return e.key, stateStale, down
	}
	if until, ok := c.unknown.get(ck); ok && now.Before(until) {
		c.hits.Add(1)
		return nil, stateFresh, false
	}
	c.misses.Add(1)
	return nil, stateMiss, down
}

// usable returns k if the store has failed and k is within MaxStale of its
// last confirmation; nil otherwise.
func (c *KeyCache) usable(ck string) *Key {
	if c.disabled {
		return nil
	}
	now := c.o.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.lruFor(ck).get(ck); ok && now.Sub(e.confirmed) < c.o.MaxStale {
		c.stale.Add(1)
		return e.key
	}
	return nil
}

// generation returns the invalidation counter, to be passed to put.
func (c *KeyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put records a successful lookup (k nil: no such key) begun at generation
// gen, and reports whether it ends an outage. If an invalidation happened
// meanwhile the answer may predate it, so it is kept only as last known
// good, not as fresh.
func (c *KeyCache) put(ck string, k *Key, gen uint64) (recovered bool) {
	now := c.o.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	recovered, c.downTill = !c.downTill.IsZero(), time.Time{}
	if c.disabled {
		return recovered
	}
	if k == nil {
		c.lruFor(ck).remove(ck)
		if gen == c.gen {
			c.unknown.put(ck, now.Add(c.o.NegativeTTL))
		}
		return recovered
	}
	c.unknown.remove(ck)
	ttl := c.o.TTL
	if c.live {
		ttl = c.o.NotifyTTL
	}
	fresh := now.Add(ttl)
	if gen != c.gen {
		fresh = now
	}
	if c.lruFor(ck).put(ck, cachedKey{key: k, confirmed: now, fresh: fresh}) {
		c.evictions.Add(1)
	}
	return recovered
}

// failed records that the store could not answer, and reports whether
// that starts an outage. For storeRetryInterval, stale entries are served
// and unknown keys refused without asking the store.
func (c *KeyCache) failed() (started bool) {
	now := c.o.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	started = c.downTill.IsZero()
	c.downTill = now.Add(storeRetryInterval)
	return started
}

// Invalidate drops what is cached about key id, so that its next use asks
// the store: a key revoked, replaced or created takes effect at once.
func (c *KeyCache) Invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	ck := idCacheKey(id)
	c.known.remove(ck)
	c.unknown.remove(ck)
	// Keys found by hash (static keys kept in a store) are cached under
	// their hash, apart; there are few or none, so a scan is fine.
	var drop []string
	c.hashed.each(func(k string, e *cachedKey) {
		if e.key.ID == id {
			drop = append(drop, k)
		}
	})
	for _, k := range drop {
		c.hashed.remove(k)
	}
}

// InvalidateAll marks every entry stale (it stays as last known good) and
// forgets every unknown key. The change feed calls it when it connects or
// loses its connection, since notifications may have been missed.
func (c *KeyCache) InvalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalidateAll()
}

func (c *KeyCache) invalidateAll() {
	c.gen++
	c.known.each(func(_ string, e *cachedKey) { e.fresh = time.Time{} })
	c.hashed.each(func(_ string, e *cachedKey) { e.fresh = time.Time{} })
	c.unknown = newLRU[time.Time](c.unknown.max)
}

// SetLive tells the cache whether a change feed currently delivers every
// key change. While it does, entries stay fresh for NotifyTTL; a change of
// state invalidates everything, since changes may have been missed.
func (c *KeyCache) SetLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live != live {
		c.live = live
		c.invalidateAll()
	}
}

// KeyCacheStats count cache outcomes since the cache was made.
type KeyCacheStats struct {
	// Hits are lookups answered from a fresh entry.
	Hits int64
	// Misses are lookups of keys the cache did not hold.
	Misses int64
	// Stale are calls served from a stale entry because the store failed.
	Stale int64
	// Evictions are known keys dropped to make room.
	Evictions int64
	// Entries is the number of known keys held now.
	Entries int
	// StoreDown is true while the last store lookup failed.
	StoreDown bool
}

// Stats returns the counters.
func (c *KeyCache) Stats() KeyCacheStats {
	c.mu.Lock()
	n, down := c.known.len()+c.hashed.len(), !c.downTill.IsZero()
	c.mu.Unlock()
	return KeyCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Stale: c.stale.Load(), Evictions: c.evictions.Load(),
		Entries: n, StoreDown: down}
}

func idCacheKey(id string) string { return "i" + id }
