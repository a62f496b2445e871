package gateway

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/store"
)

// registerIdentityMetrics exports the key cache's health, so that an
// operator sees a store outage being absorbed (stale serves) and the
// change feed's state.
func (s *Server) registerIdentityMetrics() {
	stat := func(f func(auth.KeyCacheStats, bool) float64) func() float64 {
		return func() float64 { return f(s.stored.Stats()) }
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
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "moat_identity_feed_live", Help: "1 while the store's change feed (PostgreSQL LISTEN/NOTIFY, SQLite change log) delivers key and assignment changes."},
			stat(func(_ auth.KeyCacheStats, live bool) float64 { return b(live) })),
	)
}

// watchIdentity follows the store's change feed, if it has one: key
// changes drop cache entries, assignment changes re-read the assignments,
// and while the feed is live the key cache trusts its entries longer.
// Both stores have one (PostgreSQL: LISTEN/NOTIFY; SQLite: a change log
// polled every sqlitestore.ChangePollInterval); while it is down the key
// cache's TTL and the periodic assignment refresh apply.
func (s *Server) watchIdentity(ctx context.Context) {
	feed := store.ChangeFeed(s.store)
	if feed == nil {
		return
	}
	feed.WatchChanges(ctx, func(live bool) {
		if k := s.stored.CurrentKeys(); k != nil {
			k.SetLive(live)
		}
		if live {
			s.refreshAssignments(ctx) // changes may have been missed
		}
	}, func(c auth.Change) {
		k := s.stored.CurrentKeys()
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
