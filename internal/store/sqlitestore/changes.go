package sqlitestore

import (
	"context"
	"fmt"
	"time"

	"github.com/moat-gw/moat/internal/auth"
)

// identityChangesSQL returns migration 12: a log of key and assignment changes
// that triggers fill in the writing transaction, whichever process writes
// (moat serve's admin API, `moat keys revoke` on the same file). The change
// feed (WatchChanges) reads it by seq. at is microseconds since the Unix
// epoch, for pruning only. An update that changes a row's id logs both.
func identityChangesSQL() string {
	return `
CREATE TABLE identity_changes (
	seq  INTEGER PRIMARY KEY AUTOINCREMENT,
	kind TEXT    NOT NULL,
	id   TEXT    NOT NULL,
	at   INTEGER NOT NULL
) STRICT;
` + changeTriggersSQL("api_keys", "key") + changeTriggersSQL("role_assignments", "assignment")
}

// changeTriggersSQL logs every inserted, updated and deleted row of table
// as a change of kind.
func changeTriggersSQL(table, kind string) string {
	// julianday rather than unixepoch('subsec') (SQLite 3.42), so that an
	// older sqlite3 shell writing the file still satisfies the triggers.
	const at = `CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)`
	return fmt.Sprintf(`
CREATE TRIGGER %[1]s_changed_insert AFTER INSERT ON %[1]s BEGIN
	INSERT INTO identity_changes (kind, id, at) VALUES ('%[2]s', NEW.id, %[3]s);
END;
CREATE TRIGGER %[1]s_changed_update AFTER UPDATE ON %[1]s BEGIN
	INSERT INTO identity_changes (kind, id, at) VALUES ('%[2]s', OLD.id, %[3]s);
	INSERT INTO identity_changes (kind, id, at) SELECT '%[2]s', NEW.id, %[3]s WHERE NEW.id IS NOT OLD.id;
END;
CREATE TRIGGER %[1]s_changed_delete AFTER DELETE ON %[1]s BEGIN
	INSERT INTO identity_changes (kind, id, at) VALUES ('%[2]s', OLD.id, %[3]s);
END;
`, table, kind, at)
}

// Change feed timing and bounds (docs/identity.md).
const (
	// ChangePollInterval is how often the change feed reads the log. A key
	// revoked by another process on the same file reaches the key cache
	// within about one interval; while the feed is live the cache trusts
	// its entries for an hour instead of a second. A poll that finds
	// nothing new is one primary-key read of one row, so four a second cost
	// far less than the lookups they save; a shorter interval narrows the
	// window at the price of more wakeups.
	ChangePollInterval = 250 * time.Millisecond
	// ChangeRetention is how long change rows are kept. The feed reads
	// them within an interval, so this only has to outlast a feed that
	// stalled; one that falls further behind notices the gap and reports
	// auth.ChangeAll.
	ChangeRetention = time.Hour
	// changePruneEvery is how often the feed prunes the log.
	changePruneEvery = time.Minute
	// changePruneMax bounds the rows one prune deletes, so that it never
	// holds the write lock for long; the rest go at the next prune.
	changePruneMax = 10_000
	// changeBatch is how many changes one query reads.
	changeBatch = 1000
	// changePollTimeout bounds one poll: a poll that hangs is a feed that
	// no longer delivers, so it must go not-live.
	changePollTimeout = 2 * time.Second
)

// WatchChanges implements auth.ChangeFeed by polling identity_changes
// every ChangePollInterval until ctx ends. It starts from the end of the
// log (live(true) makes the cache forget what it trusted before), calls
// live(false) when a poll fails, which lets the cache fall back to its
// short TTL, and live(true) when one succeeds again; changes committed
// meanwhile are still in the log and delivered then. If rows it had not
// read were pruned, it reports auth.ChangeAll.
func (s *Store) WatchChanges(ctx context.Context, live func(bool), changed func(auth.Change)) {
	w := &changeWatcher{s: s, live: live, changed: changed}
	t := time.NewTicker(ChangePollInterval)
	defer t.Stop()
	for {
		w.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// changeWatcher is one WatchChanges loop's state.
type changeWatcher struct {
	s       *Store
	live    func(bool)
	changed func(auth.Change)

	started   bool  // last holds a position in the log
	last      int64 // the seq of the last change delivered
	isLive    bool
	warned    bool // the current outage was logged
	lastPrune time.Time
}

// poll reads what changed since the last poll and prunes when due.
func (w *changeWatcher) poll(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, changePollTimeout)
	err := w.read(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		if w.isLive {
			w.isLive = false
			w.live(false)
		}
		if !w.warned {
			w.warned = true
			w.s.logger.Warn("identity change feed down; key cache falls back to its TTL", "err", err)
		}
		return
	}
	if !w.isLive {
		w.isLive, w.warned = true, false
		w.live(true)
		w.s.logger.Info("identity change feed live", "interval", ChangePollInterval)
	}
	if now := time.Now(); now.Sub(w.lastPrune) >= changePruneEvery {
		w.lastPrune = now
		pctx, cancel := context.WithTimeout(ctx, changePollTimeout)
		defer cancel()
		if _, err := w.s.pruneChanges(pctx, now.Add(-ChangeRetention)); err != nil && ctx.Err() == nil {
			w.s.logger.Warn("prune identity changes", "err", err)
		}
	}
}

// change is one row of identity_changes.
type change struct {
	seq      int64
	kind, id string
}

// read delivers the changes after w.last, a batch at a time. The log
// keeps its newest row (pruneChanges) and seq grows by one per row (one
// writer at a time, AUTOINCREMENT), so reading from w.last itself tells a
// gap (rows w.last did not see are gone) from nothing new.
func (w *changeWatcher) read(ctx context.Context) error {
	if !w.started {
		end, err := w.s.changesEnd(ctx)
		if err != nil {
			return err
		}
		w.last, w.started = end, true
		return nil
	}
	for {
		batch, err := w.s.changesFrom(ctx, w.last)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			if w.last == 0 {
				return nil // nothing was ever logged
			}
			// Even the row w.last saw is gone: the log was emptied by hand
			// or the file replaced. Changes are lost only if its end moved.
			end, err := w.s.changesEnd(ctx)
			if err != nil {
				return err
			}
			if end != w.last {
				w.last = end
				w.changed(auth.Change{Kind: auth.ChangeAll})
			}
			return nil
		}
		gap, prev := false, w.last
		for _, c := range batch {
			switch {
			case c.seq == w.last:
				continue // seen at the previous poll
			case c.seq != prev+1:
				gap = true
			}
			prev = c.seq
		}
		if gap {
			w.changed(auth.Change{Kind: auth.ChangeAll})
		} else {
			for _, c := range batch {
				if c.seq == w.last {
					continue
				}
				switch k := auth.ChangeKind(c.kind); k {
				case auth.ChangeKey, auth.ChangeAssignment:
					w.changed(auth.Change{Kind: k, ID: c.id})
				default:
					w.changed(auth.Change{Kind: auth.ChangeAll})
				}
			}
		}
		w.last = batch[len(batch)-1].seq
		if len(batch) < changeBatch {
			return nil
		}
	}
}

// changesEnd returns the seq of the last change ever logged, even if its
// row is gone.
func (s *Store) changesEnd(ctx context.Context) (int64, error) {
	var end int64
	err := s.read.QueryRowContext(ctx, `SELECT max(
	coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'identity_changes'), 0),
	coalesce((SELECT max(seq) FROM identity_changes), 0))`).Scan(&end)
	if err != nil {
		return 0, fmt.Errorf("read identity changes: %w", err)
	}
	return end, nil
}

// changesFrom returns up to changeBatch changes from seq on, in order.
func (s *Store) changesFrom(ctx context.Context, seq int64) ([]change, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT seq, kind, id FROM identity_changes WHERE seq >= ? ORDER BY seq LIMIT ?`, seq, changeBatch)
	if err != nil {
		return nil, fmt.Errorf("read identity changes: %w", err)
	}
	defer rows.Close()
	var out []change
	for rows.Next() {
		var c change
		if err := rows.Scan(&c.seq, &c.kind, &c.id); err != nil {
			return nil, fmt.Errorf("read identity changes: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read identity changes: %w", err)
	}
	return out, nil
}

// pruneChanges deletes changes logged before cutoff, at most changePruneMax
// of them, oldest first, and never the newest row (the feed finds its place
// by it). The rows it looks at are the ones it deletes and one more.
func (s *Store) pruneChanges(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM identity_changes WHERE seq < min(
	coalesce((SELECT seq FROM identity_changes WHERE at >= ?1 ORDER BY seq LIMIT 1), (SELECT max(seq) FROM identity_changes)),
	(SELECT min(seq) FROM identity_changes) + ?2)`, EncodeTime(cutoff), changePruneMax)
	if err != nil {
		return 0, fmt.Errorf("prune identity changes: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune identity changes: %w", err)
	}
	return n, nil
}

var _ auth.ChangeFeed = (*Store)(nil)
