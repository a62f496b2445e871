package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-gw/moat/internal/admin"
	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/config"
)

// storedIdentity is the part of identity that outlives a pipeline: the
// cache of stored keys and the last known good stored role assignments. A
// config reload keeps both, so a reload during a store outage does not
// forget who may call; the store's change feed keeps both current.
type storedIdentity struct {
	log *slog.Logger
	now func() time.Time

	mu         sync.Mutex
	keys       *auth.KeyCache
	keyCfg     config.IdentityCache // what keys was built from
	retired    auth.KeyCacheStats   // counters of caches replaced by a reload
	assigned   []audit.RoleAssignment
	assignedAt time.Time // last successful read; zero: never read
}

func newStoredIdentity(log *slog.Logger, now func() time.Time) *storedIdentity {
	return &storedIdentity{log: log, now: now}
}

// keyCache returns the cache for cfg, keeping the current one (and what
// it holds) unless its size or ages changed.
func (st *storedIdentity) keyCache(cfg *config.Config) *auth.KeyCache {
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

// currentKeys returns the cache in use, or nil before the first pipeline.
func (st *storedIdentity) currentKeys() *auth.KeyCache {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.keys
}

// stats returns the key cache's counters since the process started.
func (st *storedIdentity) stats() (s auth.KeyCacheStats, live bool) {
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

// registerIdentityMetrics exports the key cache's health, so that an
// operator sees a store outage being absorbed (stale serves) and the
// change feed's state.
func (s *Server) registerIdentityMetrics() {
	stat := func(f func(auth.KeyCacheStats, bool) float64) func() float64 {
		return func() float64 { return f(s.stored.stats()) }
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	s.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "moat_key_cache_hits_total", Help: "Stored-key lookups answered by the cache."},
			stat(func(c auth.KeyCacheStats, _ bool) float64 { return float64(c.Hits) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "moat_key_cache_misses_total", Help: "Stored-key lookups of keys the cache did not hold."},
			stat(func(c auth.KeyCacheStats, _ bool) float64 { return float64(c.Misses) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "moat_key_cache_stale_served_total", Help: "Calls served a stale cached key because the key store failed."},
			stat(func(c auth.KeyCacheStats, _ bool) float64 { return float64(c.Stale) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "moat_key_cache_evictions_total", Help: "Known keys dropped from the full cache (least recently used)."},
			stat(func(c auth.KeyCacheStats, _ bool) float64 { return float64(c.Evictions) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "moat_key_cache_entries", Help: "Known keys held in the cache."},
			stat(func(c auth.KeyCacheStats, _ bool) float64 { return float64(c.Entries) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "moat_key_store_down", Help: "1 while the last stored-key lookup failed and known keys are served from the cache."},
			stat(func(c auth.KeyCacheStats, _ bool) float64 { return b(c.StoreDown) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "moat_identity_feed_live", Help: "1 while the PostgreSQL change feed (LISTEN/NOTIFY) delivers key and assignment changes."},
			stat(func(_ auth.KeyCacheStats, live bool) float64 { return b(live) })),
	)
}

// readAssignments reads the stored role assignments within timeout. If the
// store fails, it returns the last ones read, provided they are less than
// maxStale old; otherwise an error (the caller then fails closed).
func (st *storedIdentity) readAssignments(ctx context.Context, store admin.AssignmentStore, timeout, maxStale time.Duration) ([]audit.RoleAssignment, error) {
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

// watchIdentity follows the store's change feed, if it has one: key
// changes drop cache entries, assignment changes re-read the assignments,
// and while the feed is live the key cache trusts its entries longer.
// Without a feed (SQLite) the key cache's TTL and the periodic assignment
// refresh apply.
func (s *Server) watchIdentity(ctx context.Context) {
	feed, ok := s.store.(auth.ChangeFeed)
	if !ok {
		return
	}
	feed.WatchChanges(ctx, func(live bool) {
		if k := s.stored.currentKeys(); k != nil {
			k.SetLive(live)
		}
		if live {
			s.refreshAssignments(ctx) // changes may have been missed
		}
	}, func(c auth.Change) {
		k := s.stored.currentKeys()
		switch c.Kind {
		case auth.ChangeKey:
			if k != nil {
				k.Invalidate(c.ID)
			}
		case auth.ChangeAssignment:
			s.refreshAssignments(ctx)
		case auth.ChangeAll:
			if k != nil {
				k.InvalidateAll()
			}
			s.refreshAssignments(ctx)
		}
	})
}
