package sqlitestore

import (
	"context"
	"database/sql/driver"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// sqliteType is the column type of a reqlog type in this store.
func sqliteType(t reqlog.ColumnType) string {
	switch t {
	case reqlog.TypeString:
		return "TEXT"
	case reqlog.TypeReal:
		return "REAL"
	}
	return "INTEGER" // time, long, bool
}

// rollupSchemaSQL creates reqlog.RollupTable and fills it from the log
// already stored, in the migration that introduces it. It is generated from
// reqlog's rollup lists; changing those needs a new migration.
//
// dims are the dimensions of the table being created: reqlog.RollupDims
// for the current table, an older list in the migration that created an
// older one (rollupDimsBefore).
func rollupSchemaSQL(dims, meas []reqlog.Column) string {
	var defs, key []string
	defs = append(defs, "grain INTEGER NOT NULL", "time INTEGER NOT NULL")
	key = append(key, "grain", "time")
	for _, d := range dims {
		defs = append(defs, d.SQL+" "+sqliteType(d.Type)+" NOT NULL"+reqlog.RollupColumnDefault(d))
		key = append(key, d.SQL)
	}
	defs = append(defs, "calls INTEGER NOT NULL")
	for _, m := range meas {
		t := sqliteType(m.Type)
		dflt := reqlog.RollupColumnDefault(m)
		defs = append(defs, "sum_"+m.SQL+" "+t+" NOT NULL"+dflt, "min_"+m.SQL+" "+t+" NOT NULL"+dflt, "max_"+m.SQL+" "+t+" NOT NULL"+dflt)
	}
	var b strings.Builder
	// WITHOUT ROWID: the key is the table's own B-tree, so the rollup is
	// stored once rather than as a table plus a unique index as wide as
	// its key, and time-range scans read rows without a second lookup.
	defs = append(defs, "PRIMARY KEY ("+strings.Join(key, ", ")+")")
	b.WriteString("CREATE TABLE " + reqlog.RollupTable + " (\n\t" + strings.Join(defs, ",\n\t") + "\n) STRICT, WITHOUT ROWID;\n")
	for _, g := range reqlog.Grains() {
		b.WriteString(rollupFillSQL(dims, meas, g, ""))
	}
	return b.String()
}

// rollupBucket is the SQL expression of the start of the grain-g bucket
// that a request_log time falls in.
func rollupBucket(g time.Duration) string {
	return "time - time % " + strconv.FormatInt(int64(g/time.Microsecond), 10)
}

// rollupFillSQL adds to the rollup of dimensions dims, at grain g, the log
// rows that match where (all rows when where is empty). A migration passes
// the dimensions its rollup table has at that step.
func rollupFillSQL(dims, meas []reqlog.Column, g time.Duration, where string) string {
	return rollupFillFromSQL(dims, meas, g, reqlog.SQLTable, where)
}

// rollupFillFromSQL is rollupFillSQL reading the log's rows from from, a
// relation whose unqualified column names are the log's.
func rollupFillFromSQL(dims, meas []reqlog.Column, g time.Duration, from, where string) string {
	var sel, agg, groupBy []string
	groupBy = append(groupBy, "2")
	for i, d := range dims {
		sel = append(sel, d.SQL)
		groupBy = append(groupBy, strconv.Itoa(i+3))
	}
	agg = append(agg, "COUNT(*)")
	for _, m := range meas {
		agg = append(agg, "SUM("+m.SQL+")", "MIN("+m.SQL+")", "MAX("+m.SQL+")")
	}
	if where != "" {
		where = " WHERE " + where
	}
	names := append([]string{"grain", "time"}, sel...)
	names = append(names, "calls")
	for _, m := range meas {
		names = append(names, "sum_"+m.SQL, "min_"+m.SQL, "max_"+m.SQL)
	}
	return "INSERT INTO " + reqlog.RollupTable + " (" + strings.Join(names, ", ") + ")\nSELECT " +
		strconv.FormatInt(int64(g/time.Second), 10) + ", " + rollupBucket(g) + ", " +
		strings.Join(sel, ", ") + ", " + strings.Join(agg, ", ") +
		"\nFROM " + from + where + " GROUP BY " + strings.Join(groupBy, ", ") + ";\n"
}

// rollupChunk is the most rollup rows one upsert carries: 32 rows of 51
// columns bind 1,632 variables. A batch's records fall in few buckets (one
// per grain and dimension values), so most batches need one or two upserts.
const rollupChunk = 32

// rollupUpsertSQL adds rows rollup rows to their buckets. The rows of one
// statement have distinct keys (reqlog.RollupSet merges records by bucket),
// which an upsert of several rows needs.
func rollupUpsertSQL(rows int) string {
	return "INSERT OR FAIL INTO " + reqlog.RollupTable + " (" + strings.Join(reqlog.RollupColumns(), ", ") + ") VALUES " +
		valuesList(rows, len(reqlog.RollupColumns())) + "\n" + rollupOnConflict()
}

// rollupOnConflict is the upsert clause that adds a row to its bucket.
func rollupOnConflict() string {
	key := []string{"grain", "time"}
	for _, d := range reqlog.RollupDims() {
		key = append(key, d.SQL)
	}
	set := []string{"calls = calls + excluded.calls"}
	for _, m := range reqlog.RollupMeasures() {
		s, lo, hi := "sum_"+m.SQL, "min_"+m.SQL, "max_"+m.SQL
		set = append(set, s+" = "+s+" + excluded."+s, lo+" = min("+lo+", excluded."+lo+")", hi+" = max("+hi+", excluded."+hi+")")
	}
	return "ON CONFLICT (" + strings.Join(key, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ")
}

// rollupRecountSQL rebuilds, from the log, the rollup buckets that hold a
// log row past the id ?1: what a flush does when what it holds in memory
// may not be what the log holds past through_id. The hours are counted
// from the log's rows in them, the days from their hours, so the recount
// is exact whoever counted what before (an older moat on the same file
// counts its batches itself) and reads at most the hours with new rows.
func rollupRecountSQL() []string {
	const hour, day = reqlog.GrainHour, reqlog.GrainDay
	us := func(g time.Duration) string { return strconv.FormatInt(int64(g/time.Microsecond), 10) }
	secs := func(g time.Duration) string { return strconv.FormatInt(int64(g/time.Second), 10) }
	touched := func(g time.Duration) string {
		return "SELECT DISTINCT time - time % " + us(g) + " AS start FROM " + reqlog.SQLTable + " WHERE id > ?1"
	}
	dims, meas := reqlog.RollupDims(), reqlog.RollupMeasures()
	var dayCols, groupBy []string
	groupBy = append(groupBy, "2")
	for i, d := range dims {
		dayCols = append(dayCols, "h."+d.SQL)
		groupBy = append(groupBy, strconv.Itoa(i+3))
	}
	dayCols = append(dayCols, "SUM(h.calls)")
	for _, m := range meas {
		dayCols = append(dayCols, "SUM(h.sum_"+m.SQL+")", "MIN(h.min_"+m.SQL+")", "MAX(h.max_"+m.SQL+")")
	}
	return []string{
		"DELETE FROM " + reqlog.RollupTable + " WHERE grain = " + secs(hour) + " AND time IN (" + touched(hour) + ")",
		strings.TrimSuffix(rollupFillFromSQL(dims, meas, hour,
			"("+touched(hour)+") AS t JOIN "+reqlog.SQLTable+" AS r ON r.time >= t.start AND r.time < t.start + "+us(hour), ""), ";\n"),
		"DELETE FROM " + reqlog.RollupTable + " WHERE grain = " + secs(day) + " AND time IN (" + touched(day) + ")",
		"INSERT INTO " + reqlog.RollupTable + " (" + strings.Join(reqlog.RollupColumns(), ", ") + ")\nSELECT " + secs(day) + ", t.start, " +
			strings.Join(dayCols, ", ") + "\nFROM (" + touched(day) + ") AS t JOIN " + reqlog.RollupTable + " AS h ON h.grain = " +
			secs(hour) + " AND h.time >= t.start AND h.time < t.start + " + us(day) + " GROUP BY " + strings.Join(groupBy, ", "),
	}
}

// writeRollup upserts rows, a chunk of buckets per statement of m.
func (c *writeConn) writeRollup(ctx context.Context, m *multiRow, rows []reqlog.RollupRow) error {
	off := 0
	for _, n := range chunks(len(rows), m.max) {
		vals := c.vals[:0]
		for i := off; i < off+n; i++ {
			start := len(vals)
			vals = rows[i].AppendValues(vals)
			vals[start+1] = EncodeTime(rows[i].Time)
		}
		c.vals = vals
		st, err := m.stmt(n)
		if err != nil {
			return err
		}
		if c.args, err = namedValues(c.args, vals); err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, c.args); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// The rollup of the newest records is held in memory and added to the
// table a stretch of batches at a time, not in each batch's transaction.
// With many distinct callers every record is a bucket of its own in each
// grain: with 10,000 keys in rotation the upserts cost 56 of a call's
// 245 µs, and the commit more again for the pages they dirtied
// (docs/benchmarks.md). Held for up to rollupFlushEvery, a key's calls
// share one upsert, and a flush walks the table's pages once, in order.
const (
	rollupFlushEvery = 30 * time.Second
	rollupMaxPending = 50_000 // buckets held before a flush, about 20 MB
	rollupStateTable = "request_log_rollup_state"
)

// pendingRollup is the rollup of the records this Store has written and
// not yet added to the table.
//
// The table says in rollupStateTable's through_id how far it counts the
// log: it is the rollup of exactly the rows whose id is at most through_id.
// A flush (flushRollup) adds the pending rows and moves through_id to the
// log's largest id when the rows past through_id are the ones this store
// wrote since it last set it: through_id as it left it, and as many rows
// past it as it wrote. Otherwise (the first flush of a process, which
// catches up after a crash; another process writing the same file; a
// failed flush; retention removing new rows) it drops the pending rows and
// counts the rows past through_id from the log itself, in SQL. Either way
// the table is exact once the flush commits.
type pendingRollup struct {
	mu      sync.Mutex // held through a batch or a flush, taken before the write connection
	set     reqlog.RollupSet
	records int64 // records written since through
	// through is through_id as this store last set it; -1 before its first
	// flush, or after a failed one, so that the next counts from the log.
	through int64
	since   time.Time     // when the oldest pending record was written
	every   time.Duration // rollupFlushEvery, but in tests
	timer   *time.Timer   // flushes what no batch follows within every
	behind  bool          // a flush failed: the table lags the log until one succeeds
	closed  bool

	// unindexed counts the records written since the caller index last
	// took the log's new rows (callerindex.go); a flush takes them too,
	// and so does the batch that brings it to indexRows (callerIndexRows
	// but in tests).
	unindexed, indexRows int64
	// oldest is the earliest time, as stored, of those records, when
	// oldestKnown: they are all the rows past the index's through_id, as
	// far as this store knows (math.MaxInt64 for none).
	oldest      int64
	oldestKnown bool
}

// due says whether the batch being written should flush the rollup.
func (p *pendingRollup) due(now time.Time) bool {
	return p.through < 0 || p.set.Len() >= rollupMaxPending || (p.records > 0 && now.Sub(p.since) >= p.every)
}

// flushed records a committed flush that counted the log through id.
func (p *pendingRollup) flushed(id int64) {
	p.set.Reset()
	p.records, p.through, p.since, p.behind = 0, id, time.Time{}, false
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}

// indexed records a committed transaction that added the log's new rows to
// the caller index. When its step left some behind (rows an older moat
// wrote), the next batch adds more.
func (p *pendingRollup) indexed(behind bool) {
	p.unindexed, p.oldest, p.oldestKnown = 0, math.MaxInt64, !behind
	if behind {
		p.unindexed = p.indexRows
	}
}

// indexFrom returns the earliest stored time of the rows past the caller
// index's through_id, those of p and recs, which the transaction in
// progress has just inserted; ok is false when p does not know it.
func (p *pendingRollup) indexFrom(recs []reqlog.Record) (oldest int64, ok bool) {
	if !p.oldestKnown {
		return 0, false
	}
	return minTime(p.oldest, recs), true
}

// minTime returns the earliest stored time of recs, or t if earlier.
func minTime(t int64, recs []reqlog.Record) int64 {
	for i := range recs {
		t = min(t, EncodeTime(recs[i].Time))
	}
	return t
}

// forgetLocked makes the next flush recount from the log, after one that
// failed: what is pending may no longer match what the log holds past
// through_id. The timer retries it, so the table does not stay behind for
// want of another batch. p.mu is held.
func (s *Store) forgetLocked() {
	p := &s.pending
	p.set.Reset()
	p.records, p.through, p.since, p.behind = 0, -1, time.Time{}, true
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	s.armLocked()
}

// armLocked sets the timer that flushes within p.every, unless it is set.
// p.mu is held.
func (s *Store) armLocked() {
	p := &s.pending
	if p.timer != nil || p.closed {
		return
	}
	p.timer = time.AfterFunc(p.every, func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.FlushRollup(ctx); err != nil {
			s.logger.Warn("request log rollup flush failed; it is retried, recounting from the log", "err", err)
		}
	})
}

// flushRollup adds the pending rollup, and that of extra (records the
// transaction in progress has just inserted), to the table inside the
// transaction in progress on c, and returns the id through which the table
// then counts the log. It adds the log's new rows to the caller index too,
// and says whether rows are left past that index's through_id. The caller
// holds p.mu, and on failure calls forgetLocked.
func (c *writeConn) flushRollup(ctx context.Context, m *multiRow, p *pendingRollup, extra []reqlog.Record) (through int64, indexBehind bool, err error) {
	stored, err := c.queryInt(ctx, "SELECT through_id FROM "+rollupStateTable)
	if err != nil {
		return 0, false, err
	}
	last, err := c.lastID(ctx)
	if err != nil {
		return 0, false, err
	}
	counted := false
	if p.through >= 0 && stored == p.through {
		past, err := c.queryInt(ctx, "SELECT count(*) FROM "+reqlog.SQLTable+" WHERE id > ?", stored)
		if err != nil {
			return 0, false, err
		}
		if past == p.records+int64(len(extra)) {
			p.set.Add(extra)
			if err := c.writeRollup(ctx, m, p.set.Rows()); err != nil {
				return 0, false, err
			}
			counted = true
		}
	}
	if !counted && last > stored {
		for _, q := range rollupRecountSQL() {
			if _, err := c.ExecContext(ctx, q, []driver.NamedValue{{Ordinal: 1, Value: stored}}); err != nil {
				return 0, false, fmt.Errorf("recount the rollup from the log: %w", err)
			}
		}
	}
	behind, err := c.indexCallers(ctx, p, extra, last)
	if err != nil {
		return 0, false, err
	}
	// Ids are never reused (AUTOINCREMENT), so through_id never needs to
	// go back, even when retention has removed the rows up to it.
	if last <= stored {
		return stored, behind, nil
	}
	if _, err := c.ExecContext(ctx, "UPDATE "+rollupStateTable+" SET through_id = ?", []driver.NamedValue{{Ordinal: 1, Value: last}}); err != nil {
		return 0, false, err
	}
	return last, behind, nil
}

// lastID returns the log's largest id, 0 when it is empty.
func (c *writeConn) lastID(ctx context.Context) (int64, error) {
	return c.queryInt(ctx, "SELECT coalesce(max(id), 0) FROM "+reqlog.SQLTable)
}

// queryInt runs q, which returns one integer, on c.
func (c *writeConn) queryInt(ctx context.Context, q string, args ...any) (_ int64, err error) {
	nv, err := namedValues(nil, args)
	if err != nil {
		return 0, err
	}
	rows, err := c.QueryContext(ctx, q, nv)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := rows.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	dest := make([]driver.Value, 1)
	if err := rows.Next(dest); err != nil {
		return 0, fmt.Errorf("%s: %w", q, err)
	}
	n, ok := dest[0].(int64)
	if !ok {
		return 0, fmt.Errorf("%s: got %T, want an integer", q, dest[0])
	}
	return n, nil
}

// FlushRollup adds the rollup of every record written so far to the table,
// so that a query of the rollup that follows counts them all; moat's KQL
// runs it before each query. It implements reqlog.RollupFlusher.
func (s *Store) FlushRollup(ctx context.Context) error {
	p := &s.pending
	p.mu.Lock()
	defer p.mu.Unlock()
	return s.flushLocked(ctx)
}

// flushLocked is FlushRollup with p.mu held.
func (s *Store) flushLocked(ctx context.Context) error {
	p := &s.pending
	if p.closed || (p.records == 0 && p.through >= 0) {
		return nil
	}
	var (
		last   int64
		behind bool
	)
	err := s.withWriteConn(ctx, func(c *writeConn) (err error) {
		rollup, err := c.statements(ctx)
		if err != nil {
			return err
		}
		return c.inTx(ctx, func() (err error) {
			last, behind, err = c.flushRollup(ctx, rollup, p, nil)
			return err
		})
	})
	if err != nil {
		s.forgetLocked()
		return fmt.Errorf("flush request log rollup: %w", err)
	}
	p.flushed(last)
	p.indexed(behind)
	return nil
}

// wrote records in p the records a batch that did not flush has
// committed, and sets the timer that flushes them if no batch does.
func (s *Store) wrote(recs []reqlog.Record, now time.Time) {
	p := &s.pending
	if len(recs) == 0 {
		return
	}
	if p.records == 0 {
		p.since = now
	}
	p.set.Add(recs)
	p.records += int64(len(recs))
	p.unindexed += int64(len(recs))
	if p.oldestKnown {
		p.oldest = minTime(p.oldest, recs)
	}
	s.armLocked()
}

// closeRollup flushes what is pending and stops the timer, for Close.
func (s *Store) closeRollup() error {
	p := &s.pending
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	if p.records > 0 || p.behind {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = s.flushLocked(ctx)
		cancel()
	}
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.closed = true
	return err
}

// deleteRollupBefore removes the rollup buckets that end at or before t.
func (s *Store) deleteRollupBefore(ctx context.Context, t time.Time) error {
	for _, g := range reqlog.Grains() {
		end := EncodeTime(t) - int64(g/time.Microsecond) // buckets starting at or before end end by t
		if _, err := s.write.ExecContext(ctx, "DELETE FROM "+reqlog.RollupTable+" WHERE grain = ? AND time <= ?",
			int64(g/time.Second), end); err != nil {
			return fmt.Errorf("delete old request log rollup: %w", err)
		}
	}
	return nil
}
