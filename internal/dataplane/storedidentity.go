package dataplane

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/config"
)

// StoredIdentity is the part of identity that outlives a pipeline: the
// cache of stored keys and the last known good stored role assignments. A
// config reload keeps both, so a reload during a store outage does not
// forget who may call; the store's change feed keeps both current.
type StoredIdentity struct {
	log *slog.Logger
	now func() time.Time

	mu         sync.Mutex
	keys       *auth.KeyCache
	keyCfg     config.IdentityCache // what keys was built from
	retired    auth.KeyCacheStats   // counters of caches replaced by a reload
	assigned   []audit.RoleAssignment
	assignedAt time.Time // last successful read; zero: never read
}

// AssignmentStore is what the data plane reads of the role assignments kept
// in the store (made with moat roles or the admin API); admin.AssignmentStore
// satisfies it.
type AssignmentStore interface {
	ListAssignments(ctx context.Context) ([]audit.RoleAssignment, error)
}

// NewStoredIdentity returns the identity state that outlives pipelines;
// the process makes one and hands it to every Build.
func NewStoredIdentity(log *slog.Logger, now func() time.Time) *StoredIdentity {
	return &StoredIdentity{log: log, now: now}
}

// keyCache returns the cache for cfg, keeping the current one (and what
// it holds) unless its size or ages changed.
func (st *StoredIdentity) keyCache(cfg *config.Config) *auth.KeyCache {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.keys != nil && cfg.Auth.Cache == st.keyCfg {
		return st.keys
	}
	live := st.keys != nil && st.keys.Live()
	if st.keys != nil {
		addStats(&st.retired, st.keys.Stats())
	}
	st.keyCfg = cfg.Auth.Cache
	o := cfg.Auth.Cache.KeyCacheOptions()
	o.Now = st.now
	st.keys = auth.NewKeyCache(o)
	st.keys.SetLive(live)
	return st.keys
}

// CurrentKeys returns the cache in use, or nil before the first pipeline.
func (st *StoredIdentity) CurrentKeys() *auth.KeyCache {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.keys
}

// Stats returns the key cache's counters since the process started.
func (st *StoredIdentity) Stats() (s auth.KeyCacheStats, live bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.keys != nil {
		s, live = st.keys.Stats(), st.keys.Live()
	}
	addStats(&s, st.retired)
	return s, live
}

// addStats adds b's counters to a: the caches a reload retired still
// count toward the process's totals.
func addStats(a *auth.KeyCacheStats, b auth.KeyCacheStats) {
	a.Hits += b.Hits
	a.Misses += b.Misses
	a.Stale += b.Stale
	a.Evictions += b.Evictions
}

// readAssignments reads the stored role assignments within timeout. If the
// store fails, it returns the last ones read, provided they are less than
// maxStale old; otherwise an error (the caller then fails closed).
func (st *StoredIdentity) readAssignments(ctx context.Context, store AssignmentStore, timeout, maxStale time.Duration) ([]audit.RoleAssignment, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	list, err := store.ListAssignments(rctx)
	st.mu.Lock()
	defer st.mu.Unlock()
	if err == nil {
		st.assigned, st.assignedAt = list, st.now()
		return list, nil
	}
	if age := st.now().Sub(st.assignedAt); !st.assignedAt.IsZero() && age < maxStale {
		st.log.Warn("role assignments unavailable from the store; using the last ones read",
			"err", err, "age", age.Round(time.Second), "max_stale", maxStale)
		return st.assigned, nil
	}
	return nil, fmt.Errorf("load role assignments: %w", err)
}
