package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// deleteChunk is how many rows DeleteBefore removes per transaction, so that
// retention never holds the write lock long enough to stall the log writer.
const deleteChunk = 5000

// requestLogSQL builds the insert and select statements from reqlog.Columns.
func requestLogSQL() (insert, sel string) {
	cols := reqlog.Columns()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.SQL
	}
	list := strings.Join(names, ", ")
	insert = "INSERT INTO " + reqlog.SQLTable + " (" + list + ") VALUES (?" + strings.Repeat(", ?", len(cols)-1) + ")" +
		"\nON CONFLICT " + conflictTarget + " DO NOTHING"
	sel = "SELECT id, " + list + " FROM " + reqlog.SQLTable
	return insert, sel
}

// conflictTarget names the unique index of the request_log_request_id_unique
// migration: a record is identified by its time and request ID, both stable
// across the spool's replays; records without a request ID are never taken
// for one another.
const conflictTarget = "(time, request_id) WHERE request_id <> ''"

// requestIDUniqueSQL is the request_log_request_id_unique migration: it
// removes rows that share a time and request ID with an older row (left by
// retries of batches that had in fact been written), recounts the rollup
// buckets they were counted in, and adds the unique index that makes
// WriteBatch idempotent.
func requestIDUniqueSQL() string {
	const dups = "request_log_dups"
	var b strings.Builder
	b.WriteString("CREATE TEMP TABLE " + dups + " AS SELECT a.id, a.time FROM " + reqlog.SQLTable + " a\n" +
		"WHERE a.request_id <> '' AND EXISTS (SELECT 1 FROM " + reqlog.SQLTable + " b\n" +
		"\tWHERE b.time = a.time AND b.request_id = a.request_id AND b.id < a.id);\n")
	b.WriteString("DELETE FROM " + reqlog.SQLTable + " WHERE id IN (SELECT id FROM " + dups + ");\n")
	for _, g := range reqlog.Grains() {
		grain := strconv.FormatInt(int64(g/time.Second), 10)
		affected := rollupBucket(g) + " IN (SELECT DISTINCT " + rollupBucket(g) + " FROM " + dups + ")"
		b.WriteString("DELETE FROM " + reqlog.RollupTable + " WHERE grain = " + grain + " AND time IN (SELECT DISTINCT " +
			rollupBucket(g) + " FROM " + dups + ");\n")
		b.WriteString(rollupFillSQL(reqlog.RollupDims(), g, affected))
	}
	b.WriteString("DROP TABLE temp." + dups + ";\n")
	b.WriteString("CREATE UNIQUE INDEX request_log_request_id ON " + reqlog.SQLTable + " (time, request_id) WHERE request_id <> '';\n")
	return b.String()
}

// WriteBatch appends recs and adds them to the rollup in one transaction.
// It is idempotent: a record whose time and request ID are already stored
// (a replay from the spool, a retry of a batch whose commit was in fact
// made) is skipped, and so is its share of the rollup. Times are truncated
// to the microsecond; NaN durations are stored as 0, since SQLite would
// turn them into NULL.
func (s *Store) WriteBatch(ctx context.Context, recs []reqlog.Record) (err error) {
	if len(recs) == 0 {
		return nil
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write request log: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stmt, err := tx.PrepareContext(ctx, s.insertSQL)
	if err != nil {
		return fmt.Errorf("write request log: %w", err)
	}
	defer stmt.Close()
	// inserted is recs less the records already stored; it is only
	// copied when there are some, which only replays and retries bring.
	inserted, skipped := recs, false
	for i := range recs {
		res, err := stmt.ExecContext(ctx, values(&recs[i])...)
		if err != nil {
			return fmt.Errorf("write request log: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("write request log: %w", err)
		}
		switch {
		case n == 0 && !skipped:
			inserted, skipped = append(make([]reqlog.Record, 0, len(recs)), recs[:i]...), true
		case n > 0 && skipped:
			inserted = append(inserted, recs[i])
		}
	}
	if err := s.writeRollup(ctx, tx, inserted); err != nil {
		return fmt.Errorf("write request log rollup: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write request log: commit: %w", err)
	}
	return nil
}

// values returns r's column values encoded for SQLite.
func values(r *reqlog.Record) []any {
	v := r.Values()
	v[0] = EncodeTime(r.Time)
	for i, x := range v {
		if f, ok := x.(float64); ok && math.IsNaN(f) {
			v[i] = 0.0
		}
	}
	return v
}

// After returns up to limit records with id > afterID in id order; with
// afterID < 0, the newest limit records, oldest first.
func (s *Store) After(ctx context.Context, afterID int64, limit int) ([]reqlog.Record, error) {
	if limit <= 0 {
		return nil, nil
	}
	var q string
	var args []any
	if afterID < 0 {
		q = "SELECT * FROM (" + s.selectSQL + " ORDER BY id DESC LIMIT ?) ORDER BY id"
		args = []any{limit}
	} else {
		q = s.selectSQL + " WHERE id > ? ORDER BY id LIMIT ?"
		args = []any{afterID, limit}
	}
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read request log: %w", err)
	}
	defer rows.Close()
	recs, err := scanRecords(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("read request log: %w", err)
	}
	return recs, nil
}

// scanRecords reads "id, <columns>" rows into records.
func scanRecords(rows *sql.Rows, sizeHint int) ([]reqlog.Record, error) {
	recs := make([]reqlog.Record, 0, min(sizeHint, 1024))
	var us int64
	for rows.Next() {
		var r reqlog.Record
		dst := r.ScanTargets()
		dst[1] = &us // time is stored as an integer
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		r.Time = DecodeTime(us)
		recs = append(recs, r)
	}
	return recs, rows.Err()
}

// BlankBodies empties the bodies of records with from <= time < to, a
// chunk per transaction (reqlog.BodyBlanker).
func (s *Store) BlankBodies(ctx context.Context, from, to time.Time) (int64, error) {
	const q = "UPDATE " + reqlog.SQLTable + " SET request_body = '', response_body = '' WHERE id IN (SELECT id FROM " +
		reqlog.SQLTable + " WHERE time >= ? AND time < ? AND (request_body <> '' OR response_body <> '') LIMIT ?)"
	var total int64
	for {
		res, err := s.write.ExecContext(ctx, q, EncodeTime(from), EncodeTime(to), deleteChunk)
		if err != nil {
			return total, fmt.Errorf("blank old request bodies: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("blank old request bodies: %w", err)
		}
		total += n
		if n < deleteChunk {
			return total, nil
		}
	}
}

// DeleteBefore removes records older than t, a chunk per transaction so
// that the log writer can interleave, and returns how many it removed. Then
// it removes the rollup buckets that end by t; retention passes the start of
// a UTC day, so no bucket is left counting removed records.
func (s *Store) DeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	const q = "DELETE FROM " + reqlog.SQLTable + " WHERE id IN (SELECT id FROM " + reqlog.SQLTable +
		" WHERE time < ? ORDER BY time LIMIT ?)"
	cutoff := EncodeTime(t)
	if t.Nanosecond()%1000 != 0 {
		cutoff++ // a stored time equal to t's microsecond is still older than t
	}
	var total int64
	for {
		res, err := s.write.ExecContext(ctx, q, cutoff, deleteChunk)
		if err != nil {
			return total, fmt.Errorf("delete old request log: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("delete old request log: %w", err)
		}
		total += n
		if n < deleteChunk {
			return total, s.deleteRollupBefore(ctx, t)
		}
	}
}
