package sqlitestore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// deleteChunk is how many rows DeleteBefore removes per transaction, so that
// retention never holds the write lock long enough to stall the log writer.
const deleteChunk = 5000

// insertChunk is the most records one INSERT carries: 64 rows of 40
// columns bind 2,560 variables, well under SQLite's 32,766. Measured
// (docs/benchmarks.md, "Where the remaining CPU goes"), chunks of 32 to 64
// rows cost half the CPU per record of one row per statement; 128 and 256
// cost more again.
const insertChunk = 64

// requestLogSQL builds the select statement and the insert of rows records
// from reqlog.Columns. The insert skips records already stored; WriteBatch
// learns which it did insert from the rows it changed (insertRecords), so it
// counts only those in the rollup.
func requestLogSQL() (insert func(rows int) string, sel string) {
	cols := reqlog.Columns()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.SQL
	}
	list := strings.Join(names, ", ")
	insert = func(rows int) string {
		return "INSERT OR FAIL INTO " + reqlog.SQLTable + " (" + list + ") VALUES " + valuesList(rows, len(cols)) +
			"\nON CONFLICT " + conflictTarget + " DO NOTHING"
	}
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
		// The rollup as migration request_log_request_id_unique found it.
		b.WriteString(rollupFillSQL(reqlog.RollupDimsWithout(reqlog.TeamsAndCostDims()...), reqlog.RollupMeasuresWithout(reqlog.TeamsAndCostMeasures()...), g, affected))
	}
	b.WriteString("DROP TABLE temp." + dups + ";\n")
	b.WriteString("CREATE UNIQUE INDEX request_log_request_id ON " + reqlog.SQLTable + " (time, request_id) WHERE request_id <> '';\n")
	return b.String()
}

// WriteBatch appends recs and adds them to the rollup in one transaction.
// It is idempotent: a record whose time and request ID are already stored
// (a replay from the spool, a retry of a batch whose commit was in fact
// made), or are those of an earlier record of the batch, is skipped, and so
// is its share of the rollup. Times are truncated to the microsecond; NaN
// durations are stored as 0, since SQLite would turn them into NULL.
//
// It runs on the write connection's driver (see writeConn), as database/sql
// would: the transaction begins IMMEDIATE (the pool's _txlock), ends in a
// rollback on any failure, and is not committed once ctx is done.
func (s *Store) WriteBatch(ctx context.Context, recs []reqlog.Record) error {
	if len(recs) == 0 {
		return nil
	}
	p := &s.pending
	p.mu.Lock()
	defer p.mu.Unlock()
	var (
		inserted []reqlog.Record
		through  int64
		now      = time.Now()
		flush    = p.due(now)
		index    = !flush && p.unindexed+int64(len(recs)) >= p.indexRows
		behind   bool // the caller index has rows left to take
	)
	err := s.withWriteConn(ctx, func(c *writeConn) (err error) {
		inserted, through, behind, err = writeBatch(ctx, c, recs, p, flush, index)
		return err
	})
	switch {
	case err != nil && flush:
		// The pending rollup may have taken the batch's records.
		s.forgetLocked()
	case err != nil:
	case flush:
		p.flushed(through)
		p.indexed(behind)
	default:
		s.wrote(inserted, now)
		if index {
			p.indexed(behind)
		}
	}
	if err != nil {
		return fmt.Errorf("write request log: %w", err)
	}
	return nil
}

// writeBatch is WriteBatch on the write connection c, with p.mu held: with
// flush, it adds p's rollup and the batch's to the table in the batch's
// transaction (and the rows past the caller index's through_id to it) and
// returns the id the table then counts through; otherwise it returns the
// records it inserted, for WriteBatch to add to p once committed, and with
// index adds the rows past through_id to the caller index. indexBehind says
// that rows are left past it (callerIndexStep).
func writeBatch(ctx context.Context, c *writeConn, recs []reqlog.Record, p *pendingRollup, flush, index bool) (inserted []reqlog.Record, through int64, indexBehind bool, err error) {
	rollup, err := c.statements(ctx)
	if err != nil {
		return nil, 0, false, err
	}
	err = c.inTx(ctx, func() (err error) {
		if inserted, err = c.insertRecords(ctx, recs); err != nil {
			return err
		}
		if flush {
			if through, indexBehind, err = c.flushRollup(ctx, rollup, p, inserted); err != nil {
				return fmt.Errorf("rollup: %w", err)
			}
		} else if index {
			last, err := c.lastID(ctx)
			if err != nil {
				return fmt.Errorf("caller index: %w", err)
			}
			if indexBehind, err = c.indexCallers(ctx, p, inserted, last); err != nil {
				return err
			}
		}
		return nil
	})
	return inserted, through, indexBehind, err
}

// recordKey identifies a stored record: its time as stored and its request
// ID (the unique index request_log_request_id).
type recordKey struct {
	time int64
	id   string
}

// insertRecords inserts recs a chunk per statement and returns the
// records it inserted: recs itself when it inserted all, as it does but for
// replays and retries.
//
// A chunk whose insert changed as many rows as it carries inserted them all,
// the common case. Otherwise the rows it did insert are the log's newest,
// as many as it changed (ids only grow: AUTOINCREMENT, and this connection
// is the only writer inside the transaction), read back by insertedKeys.
// RETURNING would say the same for every chunk, but SQLite builds an
// ephemeral table for it each time: a fifth of the insert's CPU.
func (c *writeConn) insertRecords(ctx context.Context, recs []reqlog.Record) ([]reqlog.Record, error) {
	inserted, skipped := recs, false
	var returned map[recordKey]int // keys a chunk inserted, when it skipped some
	off := 0
	for _, n := range chunks(len(recs), insertChunk) {
		chunk := recs[off : off+n]
		changed, err := c.insertChunk(ctx, chunk)
		if err != nil {
			return nil, err
		}
		if changed == int64(n) { // all inserted
			if skipped {
				inserted = append(inserted, chunk...)
			}
			off += n
			continue
		}
		if c.keys, err = c.insertedKeys(ctx, changed, c.keys[:0]); err != nil {
			return nil, err
		}
		keys := c.keys
		// Some were skipped: a chunk's row is inserted when its key was
		// read back, the first row of the chunk with that key; rows without
		// a request ID are never skipped.
		if returned == nil {
			returned = map[recordKey]int{}
		}
		clear(returned)
		for _, k := range keys {
			returned[k]++
		}
		for i := range chunk {
			k := recordKey{EncodeTime(chunk[i].Time), chunk[i].RequestID}
			ok := k.id == "" || returned[k] > 0
			if ok && k.id != "" {
				returned[k]--
			}
			switch {
			case !ok && !skipped:
				inserted, skipped = append(make([]reqlog.Record, 0, len(recs)), recs[:off+i]...), true
			case ok && skipped:
				inserted = append(inserted, chunk[i])
			}
		}
		off += n
	}
	return inserted, nil
}

// insertedKeys appends to keys those of the n newest rows: what the last
// insert added, when it changed n rows.
func (c *writeConn) insertedKeys(ctx context.Context, n int64, keys []recordKey) (_ []recordKey, err error) {
	if n == 0 {
		return keys, nil
	}
	rows, err := c.QueryContext(ctx, "SELECT time, request_id FROM "+reqlog.SQLTable+" ORDER BY id DESC LIMIT ?",
		[]driver.NamedValue{{Ordinal: 1, Value: n}})
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := rows.Close(); err == nil && cerr != nil {
			keys, err = nil, cerr
		}
	}()
	dest := make([]driver.Value, 2)
	for {
		if err := rows.Next(dest); err == io.EOF {
			return keys, nil
		} else if err != nil {
			return nil, err
		}
		t, ok1 := dest[0].(int64)
		id, ok2 := dest[1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("request log key of %T, %T", dest[0], dest[1])
		}
		keys = append(keys, recordKey{t, id})
	}
}

// columnWriter takes a record's column values from writeRecord.
type columnWriter interface {
	int64Col(int64)
	floatCol(float64)
	boolCol(bool)
	textCol(string)
}

// writeRecord gives w r's column values, in reqlog.Columns order, encoded
// for SQLite: time as EncodeTime, NaN durations as 0. It is Record.Values
// in the types the store binds (a test keeps the two alike).
func writeRecord(w columnWriter, r *reqlog.Record) {
	w.int64Col(EncodeTime(r.Time))
	for _, s := range [...]string{r.RequestID, r.Caller, r.AuthType, r.ClientIP, r.Listener,
		r.Deployment, r.Model, r.Upstream, r.Operation, r.APIVersion, r.Method, r.Path} {
		w.textCol(s)
	}
	w.int64Col(int64(r.Status))
	w.int64Col(int64(r.UpstreamStatus))
	w.textCol(r.ErrorKind)
	w.textCol(r.ErrorMessage)
	w.floatCol(notNaN(r.TotalMs))
	w.floatCol(notNaN(r.UpstreamMs))
	w.floatCol(notNaN(r.FirstByteMs))
	w.int64Col(int64(r.PromptTokens))
	w.int64Col(int64(r.CompletionTokens))
	w.int64Col(int64(r.TotalTokens))
	w.boolCol(r.TokensEstimated)
	w.boolCol(r.Streamed)
	w.int64Col(r.RequestBytes)
	w.int64Col(r.ResponseBytes)
	w.textCol(r.Region)
	w.int64Col(int64(r.Attempts))
	w.textCol(r.RequestBody)
	w.textCol(r.ResponseBody)
	w.textCol(r.Replica)
	w.floatCol(notNaN(r.FirstTokenMs))
	w.textCol(r.Guardrail)
	w.textCol(r.KeyName)
	w.textCol(r.Owner)
	w.textCol(r.Team)
	w.floatCol(notNaN(r.Cost))
	w.textCol(r.PriceVersion)
	w.textCol(r.Headers)
}

// anyValues is the columnWriter of the driver's arguments: driver.Value
// types already (int64 rather than int, which database/sql would convert
// at an allocation each).
type anyValues []any

func (v *anyValues) int64Col(x int64)   { *v = append(*v, x) }
func (v *anyValues) floatCol(x float64) { *v = append(*v, x) }
func (v *anyValues) boolCol(x bool)     { *v = append(*v, x) }
func (v *anyValues) textCol(x string)   { *v = append(*v, x) }

// appendValues appends r's column values (writeRecord) to v.
func appendValues(v []any, r *reqlog.Record) []any {
	w := anyValues(v)
	writeRecord(&w, r)
	return w
}

// notNaN returns f, or 0 for NaN, which SQLite would store as NULL.
func notNaN(f float64) float64 {
	if math.IsNaN(f) {
		return 0
	}
	return f
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
	// The buckets it removes must not come back with the pending rollup.
	// A flush that fails leaves the next to recount from the log, which
	// the rows removed here cannot fool; retention goes on regardless.
	if err := s.FlushRollup(ctx); err != nil {
		s.logger.Warn("request log rollup flush before retention failed", "err", err)
	}
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
