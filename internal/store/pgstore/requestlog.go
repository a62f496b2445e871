package pgstore

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/reqlog"
)

// WriteBatch appends recs with COPY and adds them to the rollup in one
// transaction. Times are truncated
// to the microsecond; NaN durations are stored as 0, as in SQLite; text that
// PostgreSQL cannot hold (NUL bytes, invalid UTF-8) gets U+FFFD instead, so
// one odd record cannot fail its whole batch.
func (s *Store) WriteBatch(ctx context.Context, recs []reqlog.Record) (err error) {
	if len(recs) == 0 {
		return nil
	}
	today := dayOf(s.opts.Now())
	s.ensurePartitions(ctx, today, today+int64(s.opts.DaysAhead), recs)

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("write request log: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // a no-op after Commit
	src := pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) { return values(&recs[i]), nil })
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{reqlog.SQLTable}, s.cols, src); err != nil {
		return fmt.Errorf("write request log: %w", err)
	}
	if err := writeRollup(ctx, tx, recs); err != nil {
		return fmt.Errorf("write request log rollup: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("write request log: commit: %w", err)
	}
	return nil
}

// values returns r's column values made safe for PostgreSQL.
func values(r *reqlog.Record) []any {
	v := r.Values()
	for i, x := range v {
		switch x := x.(type) {
		case string:
			v[i] = cleanText(x)
		case float64:
			if math.IsNaN(x) {
				v[i] = 0.0
			}
		}
	}
	return v
}

// cleanText replaces what a PostgreSQL text value cannot hold.
func cleanText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// After returns up to limit records with id > afterID in id order; with
// afterID < 0, the newest limit records, oldest first.
//
// Ids come from a sequence when a row is inserted, but rows become visible
// when their transaction commits, so with several writers a row may appear
// after one with a higher id: a tail that follows After's cursor can miss
// it. Readers that need every row re-read a short window behind the cursor.
func (s *Store) After(ctx context.Context, afterID int64, limit int) ([]reqlog.Record, error) {
	if limit <= 0 {
		return nil, nil
	}
	var rows pgx.Rows
	var err error
	if afterID < 0 {
		rows, err = s.pool.Query(ctx, "SELECT * FROM ("+s.selectSQL+" ORDER BY id DESC LIMIT $1) newest ORDER BY id", limit)
	} else {
		rows, err = s.pool.Query(ctx, s.selectSQL+" WHERE id > $1 ORDER BY id LIMIT $2", afterID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("read request log: %w", err)
	}
	defer rows.Close()
	recs := make([]reqlog.Record, 0, min(limit, 1024))
	for rows.Next() {
		var r reqlog.Record
		if err := rows.Scan(r.ScanTargets()...); err != nil {
			return nil, fmt.Errorf("read request log: %w", err)
		}
		r.Time = r.Time.UTC()
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read request log: %w", err)
	}
	return recs, nil
}

// DeleteBefore removes records older than t: it drops the day partitions
// that end at or before t, then deletes the older rows left in the day that
// t falls in and in the default partition. A partition that cannot be
// dropped (another session holds a lock too long) is emptied by the delete
// instead. Then it removes the rollup buckets that end by t; retention
// passes the start of a UTC day, so no bucket is left counting removed
// records.
func (s *Store) DeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	if t.Nanosecond()%1000 != 0 {
		// A stored time equal to t's microsecond is still older than t.
		t = t.Truncate(time.Microsecond).Add(time.Microsecond)
	}
	days, err := s.listPartitions(ctx)
	if err != nil {
		return 0, fmt.Errorf("delete old request log: %w", err)
	}
	var total int64
	for _, d := range days {
		if dayStart(d + 1).After(t) {
			break // days are sorted: the rest end after t
		}
		n, err := s.dropPartition(ctx, d)
		if err != nil {
			if ctx.Err() != nil {
				return total, fmt.Errorf("delete old request log: %w", err)
			}
			s.logger.Warn("request log partition not dropped; deleting its rows instead",
				"partition", partitionName(d), "err", err)
			continue
		}
		total += n
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM "+reqlog.SQLTable+" WHERE time < $1", t)
	if err != nil {
		return total, fmt.Errorf("delete old request log: %w", err)
	}
	return total + tag.RowsAffected(), s.deleteRollupBefore(ctx, t)
}
