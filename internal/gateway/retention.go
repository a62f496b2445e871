package gateway

import (
	"context"
	"time"

	"github.com/moat-gw/moat/internal/store"
)

// retentionEvery is how often expired request-log records are deleted.
const retentionEvery = time.Hour

// enforceRetention deletes request-log records of the UTC days that ended
// more than log.retention ago,
// and lets the store refresh its planner statistics, once at start and then
// hourly, until ctx ends. The stores delete in small
// transactions (SQLite) or drop whole day partitions (PostgreSQL), so this
// never stalls the log writer.
func (s *Server) enforceRetention(ctx context.Context) {
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	var bodiesSince time.Time // bodies before it are blanked (log.body_retention)
	for {
		bodiesSince = s.blankBodies(ctx, bodiesSince)
		if keep := s.cfg.Load().Log.Retention.D(); keep > 0 {
			// Whole UTC days, so that no rollup bucket is left counting
			// records that are gone (reqlog.RollupTable).
			cutoff := s.now().Add(-keep).UTC().Truncate(24 * time.Hour)
			n, err := s.store.DeleteBefore(ctx, cutoff)
			switch {
			case err != nil && ctx.Err() == nil:
				s.log.Warn("request log retention", "err", err)
			case n > 0:
				s.log.Info("request log retention", "deleted", n, "before", cutoff.UTC().Format(time.RFC3339))
			}
		}
		s.sweepPins(ctx)
		if err := store.Optimize(ctx, s.store); err != nil && ctx.Err() == nil {
			s.log.Warn("request log optimize", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
