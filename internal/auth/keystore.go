package auth

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"
)

// KeyStore holds API keys. auth declares it; the SQLite and PostgreSQL
// stores implement it. Implementations are safe for concurrent use and
// return ErrKeyNotFound (wrapped or not) for unknown IDs.
type KeyStore interface {
	// Get returns the key with this ID.
	Get(ctx context.Context, id string) (*Key, error)
	// Put creates or replaces a key.
	Put(ctx context.Context, k *Key) error
	// List returns every key, revoked ones included, ordered by ID.
	List(ctx context.Context) ([]*Key, error)
	// Revoke marks the key revoked at the given time.
	Revoke(ctx context.Context, id string, at time.Time) error
}

// HashIndex is implemented by stores that can find a key by its hash. The
// verifier needs it for static (Azure-style) keys, which carry no ID; stores
// that hold only moat_ keys need not implement it.
type HashIndex interface {
	GetByHash(ctx context.Context, hash []byte) (*Key, error)
}

// MemKeyStore is the KeyStore for keys declared in config (static key1/key2
// and moat_ keys declared by ID and hash). It lives in memory only: Put and
// Revoke last until the process restarts or config is reloaded.
type MemKeyStore struct {
	mu     sync.RWMutex
	byID   map[string]*Key
	byHash map[string]*Key
}

// NewMemKeyStore returns a store holding copies of keys. Duplicate IDs or
// hashes are an error, so two config entries cannot shadow each other.
func NewMemKeyStore(keys ...*Key) (*MemKeyStore, error) {
	s := &MemKeyStore{byID: map[string]*Key{}, byHash: map[string]*Key{}}
	for _, k := range keys {
		if _, dup := s.byID[k.ID]; dup {
			return nil, fmt.Errorf("key %s declared twice", k.ID)
		}
		if err := s.put(k); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// find implements inMemory: the key q names, or nil.
func (s *MemKeyStore) find(q keyQuery) *Key {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.byID[q.id]
	if q.id == "" {
		k, ok = s.byHash[string(q.hash)]
	}
	if !ok {
		return nil
	}
	return clone(k)
}

// Get implements KeyStore.
func (s *MemKeyStore) Get(_ context.Context, id string) (*Key, error) {
	if k := s.find(keyQuery{id: id}); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("key %s: %w", id, ErrKeyNotFound)
}

// GetByHash implements HashIndex.
func (s *MemKeyStore) GetByHash(_ context.Context, hash []byte) (*Key, error) {
	if k := s.find(keyQuery{hash: hash}); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("key hash %s…: %w", hex.EncodeToString(hash[:min(4, len(hash))]), ErrKeyNotFound)
}

// Put implements KeyStore.
func (s *MemKeyStore) Put(_ context.Context, k *Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(k)
}

func (s *MemKeyStore) put(k *Key) error {
	if k.ID == "" || len(k.Hash) == 0 {
		return fmt.Errorf("put key %q: ID and Hash are required", k.ID)
	}
	if other, ok := s.byHash[string(k.Hash)]; ok && other.ID != k.ID {
		return fmt.Errorf("put key %s: same secret as key %s", k.ID, other.ID)
	}
	if old, ok := s.byID[k.ID]; ok {
		delete(s.byHash, string(old.Hash))
	}
	c := clone(k)
	s.byID[c.ID] = c
	s.byHash[string(c.Hash)] = c
	return nil
}

// List implements KeyStore.
func (s *MemKeyStore) List(context.Context) ([]*Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Key, 0, len(s.byID))
	for _, k := range s.byID {
		out = append(out, clone(k))
	}
	slices.SortFunc(out, func(a, b *Key) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}

// Revoke implements KeyStore.
func (s *MemKeyStore) Revoke(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.byID[id]
	if !ok {
		return fmt.Errorf("revoke key %s: %w", id, ErrKeyNotFound)
	}
	c := clone(k)
	c.RevokedAt = at
	s.byID[id] = c
	s.byHash[string(c.Hash)] = c
	return nil
}

// clone copies k so that callers never share mutable slices with the store.
func clone(k *Key) *Key {
	c := *k
	c.Hash = slices.Clone(k.Hash)
	c.Deployments = slices.Clone(k.Deployments)
	c.Operations = slices.Clone(k.Operations)
	return &c
}
