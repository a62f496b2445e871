package sqlitestore

import (
	"context"
	"time"
)

// PruneChanges exposes pruneChanges to the feed's tests.
func (s *Store) PruneChanges(ctx context.Context, cutoff time.Time) (int64, error) {
	return s.pruneChanges(ctx, cutoff)
}

// ChangePruneMax is changePruneMax, for the pruning test.
const ChangePruneMax = changePruneMax

// ChangesFrom exposes changesFrom (one poll's query) to its benchmark.
func (s *Store) ChangesFrom(ctx context.Context, seq int64) (int, error) {
	c, err := s.changesFrom(ctx, seq)
	return len(c), err
}
