package pgstore

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/reqlog"
)

// conflictTarget names the unique index of the request_log_request_id_unique
// migration: a record is identified by its time and request ID, both stable
// across the spool's replays; records without a request ID are never taken
// for one another.
const conflictTarget = "(time, request_id) WHERE request_id <> ''"

// insertSQL inserts a batch given as one array per column, skipping the
// records already stored, and adds those it inserted to the rollup. One
// statement and one round trip per batch, like the COPY it replaced, which
// cannot skip conflicts. PostgreSQL aggregates the rollup from the rows the
// insert returns (a record skipped is not returned, so not counted), so
// moat sends nothing per rollup bucket: it used to send an upsert of 51
// values per bucket, one bucket per record and grain with 10,000 keys in
// rotation.
var insertSQL = func() string {
	names, _ := requestLogSQL()
	var arrays []string
	for i, c := range reqlog.Columns() {
		arrays = append(arrays, "$"+strconv.Itoa(i+1)+"::"+pgType(c.Type)+"[]")
	}
	returning := []string{"time"}
	for _, c := range append(reqlog.RollupDims(), reqlog.RollupMeasures()...) {
		returning = append(returning, c.SQL)
	}
	return "WITH inserted AS (\nINSERT INTO " + reqlog.SQLTable + " (" + strings.Join(names, ", ") + ")\nSELECT * FROM unnest(" +
		strings.Join(arrays, ", ") + ")\nON CONFLICT " + conflictTarget + " DO NOTHING RETURNING " + strings.Join(returning, ", ") +
		"\n), rollup AS (\n" + rollupAddSQL("inserted") + "\n)\nSELECT count(*) FROM inserted"
}()

// requestIDUniqueSQL is the request_log_request_id_unique migration: it
// removes rows that share a time and request ID with an older row (left by
// retries of batches that had in fact been written), recounts the rollup
// buckets they were counted in, and adds the unique index that makes
// WriteBatch idempotent.
func requestIDUniqueSQL() string {
	const dups = "request_log_dups"
	var b strings.Builder
	b.WriteString("CREATE TEMP TABLE " + dups + " ON COMMIT DROP AS SELECT a.id, a.time FROM " + reqlog.SQLTable + " a\n" +
		"WHERE a.request_id <> '' AND EXISTS (SELECT 1 FROM " + reqlog.SQLTable + " b\n" +
		"\tWHERE b.time = a.time AND b.request_id = a.request_id AND b.id < a.id);\n")
	b.WriteString("DELETE FROM " + reqlog.SQLTable + " r USING " + dups + " d WHERE r.id = d.id AND r.time = d.time;\n")
	for _, g := range reqlog.Grains() {
		grain := strconv.FormatInt(int64(g/time.Second), 10)
		affected := rollupBucket(g) + " IN (SELECT DISTINCT " + rollupBucket(g) + " FROM " + dups + ")"
		b.WriteString("DELETE FROM " + reqlog.RollupTable + " WHERE grain = " + grain + " AND time IN (SELECT DISTINCT " +
			rollupBucket(g) + " FROM " + dups + ");\n")
		// The rollup as migration request_log_request_id_unique found it.
		b.WriteString(rollupFillSQL(reqlog.RollupDimsWithout(reqlog.TeamsAndCostDims()...), reqlog.RollupMeasuresWithout(reqlog.TeamsAndCostMeasures()...), g, affected))
	}
	b.WriteString("CREATE UNIQUE INDEX request_log_request_id ON " + reqlog.SQLTable + " (time, request_id) WHERE request_id <> '';\n")
	return b.String()
}

// WriteBatch appends recs and adds them to the rollup in one transaction.
// It is idempotent: a record whose time and request ID are already stored
// (a replay from the spool, a retry of a batch whose commit was in fact
// made) is skipped, and so is its share of the rollup. Times are truncated
// to the microsecond; NaN durations are stored as 0, as in SQLite; text that
// PostgreSQL cannot hold (NUL bytes, invalid UTF-8) gets U+FFFD instead, so
// one odd record cannot fail its whole batch.
func (s *Store) WriteBatch(ctx context.Context, recs []reqlog.Record) (err error) {
	if len(recs) == 0 {
		return nil
	}
	today := dayOf(s.opts.Now())
	s.ensurePartitions(ctx, today, today+int64(s.opts.DaysAhead), recs)

	// One statement: the insert and the rollup commit together.
	if _, err := s.pool.Exec(ctx, insertSQL, columnArrays(recs)...); err != nil {
		return fmt.Errorf("write request log: %w", err)
	}
	return nil
}

// columnArrays returns recs as one array per column, in reqlog.Columns
// order, made safe for PostgreSQL (NaN to 0, text through cleanText), for insertSQL. It reads
// the fields through ScanTargets' pointers, which unlike Values box
// nothing: a batch is 256 records of 31 columns.
func columnArrays(recs []reqlog.Record) []any {
	cols := reqlog.Columns()
	arrays := make([]any, len(cols))
	for j, c := range cols {
		switch c.Type {
		case reqlog.TypeTime:
			arrays[j] = make([]time.Time, len(recs))
		case reqlog.TypeString:
			arrays[j] = make([]string, len(recs))
		case reqlog.TypeReal:
			arrays[j] = make([]float64, len(recs))
		case reqlog.TypeBool:
			arrays[j] = make([]bool, len(recs))
		default:
			arrays[j] = make([]int64, len(recs))
		}
	}
	for i := range recs {
		for j, p := range recs[i].ScanTargets()[1:] { // [0] is the ID
			switch a := arrays[j].(type) {
			case []time.Time:
				a[i] = p.(*time.Time).UTC()
			case []string:
				a[i] = cleanText(*p.(*string))
			case []float64:
				if f := *p.(*float64); !math.IsNaN(f) {
					a[i] = f
				}
			case []bool:
				a[i] = *p.(*bool)
			case []int64:
				switch p := p.(type) {
				case *int:
					a[i] = int64(*p)
				case *int64:
					a[i] = *p
				}
			}
		}
	}
	return arrays
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

// blankChunk is how many rows BlankBodies changes per statement.
const blankChunk = 5000

// BlankBodies empties the bodies of records with from <= time < to, a
// chunk per statement (reqlog.BodyBlanker); the time bounds on the outer
// statement let PostgreSQL prune the day partitions.
func (s *Store) BlankBodies(ctx context.Context, from, to time.Time) (int64, error) {
	const q = "UPDATE " + reqlog.SQLTable + " SET request_body = '', response_body = '' WHERE time >= $1 AND time < $2 AND id IN (SELECT id FROM " +
		reqlog.SQLTable + " WHERE time >= $1 AND time < $2 AND (request_body <> '' OR response_body <> '') LIMIT $3)"
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, q, from, to, blankChunk)
		if err != nil {
			return total, fmt.Errorf("blank old request bodies: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < blankChunk {
			return total, nil
		}
	}
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
