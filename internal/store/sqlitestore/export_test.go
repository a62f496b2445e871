package sqlitestore

import (
	"context"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
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

// SetRollupFlushEvery sets how long records wait to be added to the
// rollup (rollupFlushEvery).
func (s *Store) SetRollupFlushEvery(d time.Duration) {
	s.pending.mu.Lock()
	defer s.pending.mu.Unlock()
	s.pending.every = d
}

// Crash closes the store as a process that dies would leave it: what the
// rollup holds in memory is not added to its table.
func (s *Store) Crash() error {
	s.pending.mu.Lock()
	s.pending.closed = true
	if s.pending.timer != nil {
		s.pending.timer.Stop()
	}
	s.pending.mu.Unlock()
	return s.Close()
}

// WriteBatchCounted writes recs as moat did before migration 13, and as
// an older moat on the same file still does: with their rollup in the
// batch's transaction, leaving through_id where it was.
func (s *Store) WriteBatchCounted(ctx context.Context, recs []reqlog.Record) error {
	return s.withWriteConn(ctx, func(c *writeConn) error {
		insert, rollup, err := c.statements(ctx)
		if err != nil {
			return err
		}
		return c.inTx(ctx, func() error {
			inserted, err := c.insertRecords(ctx, insert, recs)
			if err != nil {
				return err
			}
			return c.writeRollup(ctx, rollup, reqlog.Rollup(inserted))
		})
	})
}

// WritePragma reads a pragma on the write connection.
func (s *Store) WritePragma(ctx context.Context, name string) (string, error) {
	var v string
	err := s.write.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}

// WALCheckpointPages is walCheckpointPages, for the pragma test.
const WALCheckpointPages = walCheckpointPages
