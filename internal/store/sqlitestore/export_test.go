package sqlitestore

import (
	"context"
	"fmt"
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
		rollup, err := c.statements(ctx)
		if err != nil {
			return err
		}
		return c.inTx(ctx, func() error {
			inserted, err := c.insertRecords(ctx, recs)
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

// SetCallerIndexRows sets how many new rows make a batch add them to the
// caller index (callerIndexRows).
func (s *Store) SetCallerIndexRows(n int64) {
	s.pending.mu.Lock()
	defer s.pending.mu.Unlock()
	s.pending.indexRows = n
}

// CallerIndex returns the caller index's entries, "caller time id" in
// index order, and its through_id.
func (s *Store) CallerIndex(ctx context.Context) ([]string, int64, error) {
	out, err := s.indexEntries(ctx, "SELECT caller, time, id FROM "+reqlog.CallerIndexTable)
	if err != nil {
		return nil, 0, err
	}
	var through int64
	if err := s.write.QueryRowContext(ctx, callerIndexThroughSQL).Scan(&through); err != nil {
		return nil, 0, err
	}
	return out, through, nil
}

// LogIndexEntries returns what the caller index should hold for the log's
// rows up to through: "caller time id" of each, in index order.
func (s *Store) LogIndexEntries(ctx context.Context, through int64) ([]string, error) {
	return s.indexEntries(ctx, "SELECT caller, time, id FROM "+reqlog.SQLTable+" WHERE id <= ? ORDER BY caller, time, id", through)
}

// indexEntries runs q, which selects caller, time and id, and returns its
// rows as "caller time id".
func (s *Store) indexEntries(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.write.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var caller string
		var tm, id int64
		if err := rows.Scan(&caller, &tm, &id); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprint(caller, " ", tm, " ", id))
	}
	return out, rows.Err()
}

// OpenBindingThroughDriver opens the store at path with the request log's
// insert bound through the driver (writeConnector.driverBind), the path a
// driver upgrade that moved the connection's handle would bring back.
func OpenBindingThroughDriver(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, nil, options{driverBind: true})
}
