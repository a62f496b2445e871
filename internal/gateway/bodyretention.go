package gateway

import (
	"context"
	"time"
)

// bodyLookBack is how far behind the last cutoff each pass looks again.
const bodyLookBack = 24 * time.Hour

// blankBodies empties the logged bodies older than log.body_retention, from
// since (zero: the start of the log) to the new cutoff, and returns the
// cutoff to start from next time, so that each pass reads only the rows
// that aged past the cutoff since the last one. A failed pass returns since
// unchanged and is retried at the next tick.
func (s *Server) blankBodies(ctx context.Context, since time.Time) time.Time {
	keep := s.cfg.Load().Log.BodyRetention.D()
	bb := s.store
	if keep <= 0 {
		return since
	}
	cutoff := s.now().Add(-keep).UTC()
	if !cutoff.After(since) {
		return since
	}
	from := since
	if !from.IsZero() {
		// Records replayed late from the spool may be older than the last
		// cutoff: look back a day.
		from = from.Add(-bodyLookBack)
	}
	n, err := bb.BlankBodies(ctx, from, cutoff)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Warn("request body retention", "err", err)
		return since
	case n > 0:
		s.log.Info("request body retention", "blanked", n, "before", cutoff.Format(time.RFC3339))
	}
	return cutoff
}
