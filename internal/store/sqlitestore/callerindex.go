package sqlitestore

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/moat-gw/moat/internal/reqlog"
)

// The caller index (reqlog.CallerIndexTable) takes the log's new rows in
// bulk: the rows past its through_id, sorted by caller, whenever the rollup
// flushes (every 30 s) and whenever callerIndexRows rows have been written
// since it last did, in the transaction of the batch that got there. Sorted,
// a key's rows of the stretch go into its leaf together, so with 10,000 keys
// in rotation a leaf is written once for tens of rows instead of once for
// each; with few callers it costs about what the (caller, time) index it
// replaced did (docs/benchmarks.md).
//
// The KQL compiler reads the index for the rows up to through_id and the
// log itself past it, so the index never has to be current: the rows past
// through_id are the newest, at most a stretch of them, found by id.
const callerIndexRows = 65536

// callerIndexStep is the most rows one transaction adds to the caller
// index, as a multiple of the rows that make a batch add them: about a
// second of work on this machine (~3 µs a row).
const callerIndexStep = 4

var (
	callerIndexThroughSQL = "SELECT through_id FROM " + reqlog.CallerIndexStateTable
	callerIndexAddSQL     = "INSERT OR IGNORE INTO " + reqlog.CallerIndexTable + " (caller, time, id)\n" +
		"SELECT caller, time, id FROM " + reqlog.SQLTable + " WHERE id > ? AND id <= ? ORDER BY caller, time, id"
	// callerIndexAddRecentSQL reads the rows from the covering time index
	// instead of the table, from the earliest time among them on: an entry
	// there is a tenth of a row, and the newest entries are the index's
	// last pages, which SQLite's cache still holds.
	callerIndexAddRecentSQL = "INSERT OR IGNORE INTO " + reqlog.CallerIndexTable + " (caller, time, id)\n" +
		"SELECT caller, time, id FROM " + reqlog.SQLTable + " INDEXED BY request_log_time_cover" +
		" WHERE time >= ? AND id > ? AND id <= ? ORDER BY caller, time, id"
	callerIndexSetSQL = "UPDATE " + reqlog.CallerIndexStateTable + " SET through_id = ?"
)

// indexCallers adds the log's rows past the caller index's through_id, up
// to last (the log's largest id), to it, at most a step of them
// (callerIndexStep times p.indexRows), and moves through_id past them, in
// the transaction in progress on c, which has just inserted recs. It
// reports whether rows are left past through_id: rows an older moat wrote
// on this schema, which later batches take step by step (a batch's
// transaction must not outlast the writer's timeout, or it would be rolled
// back and retried forever).
//
// When p knows the earliest stored time of those rows (pendingRollup.
// indexFrom), they are read from the covering time index from then on.
// That read is checked: it must have added one entry per id in the range,
// or the table is read as well (INSERT OR IGNORE), so a wrong earliest
// time, another writer or a gap in the ids costs time, never an entry.
func (c *writeConn) indexCallers(ctx context.Context, p *pendingRollup, recs []reqlog.Record, last int64) (behind bool, err error) {
	through, err := c.queryInt(ctx, callerIndexThroughSQL)
	if err != nil {
		return false, fmt.Errorf("caller index: %w", err)
	}
	if last <= through {
		return false, nil
	}
	if step := callerIndexStep * p.indexRows; last-through > step {
		last, behind = through+step, true
	}
	oldest, known := p.indexFrom(recs)
	complete := false
	if known && !behind {
		args := []driver.NamedValue{{Ordinal: 1, Value: oldest}, {Ordinal: 2, Value: through}, {Ordinal: 3, Value: last}}
		res, err := c.ExecContext(ctx, callerIndexAddRecentSQL, args)
		if err != nil {
			return false, fmt.Errorf("caller index: %w", err)
		}
		n, err := res.RowsAffected()
		complete = err == nil && n == last-through
	}
	if !complete {
		args := []driver.NamedValue{{Ordinal: 1, Value: through}, {Ordinal: 2, Value: last}}
		if _, err := c.ExecContext(ctx, callerIndexAddSQL, args); err != nil {
			return false, fmt.Errorf("caller index: %w", err)
		}
	}
	if _, err := c.ExecContext(ctx, callerIndexSetSQL, []driver.NamedValue{{Ordinal: 1, Value: last}}); err != nil {
		return false, fmt.Errorf("caller index: %w", err)
	}
	return behind, nil
}
