package gateway

import (
	"context"
	"time"

	"github.com/moat-gw/moat/internal/affinity"
	"github.com/moat-gw/moat/internal/config"
)

// newPinTable keeps pins in the log store (SQLite, PostgreSQL), so every
// replica on the same store finds them; reads and writes are bounded by
// auth.store_timeout, as key lookups are.
func newPinTable(cfg *config.Config, ps affinity.Store, now func() time.Time) *affinity.Table {
	return affinity.NewTable(affinity.Options{Store: ps, Timeout: cfg.Auth.StoreTimeout.D(), Now: now})
}

// sweepPins deletes expired pins from the store (hourly, with retention).
func (s *Server) sweepPins(ctx context.Context) {
	n, err := s.pins.Sweep(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Warn("expired pins", "err", err)
	case n > 0:
		s.log.Info("expired pins deleted", "deleted", n)
	}
}
