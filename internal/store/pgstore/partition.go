package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/reqlog"
)

// request_log is range-partitioned by UTC day. A day's partition is named
// request_log_pYYYYMMDD and holds [midnight, next midnight). The store keeps
// the coming Options.DaysAhead days created, makes a missing day within
// Options.DaysBack on the first write for it, and leaves anything else to
// request_log_default. Retention (DeleteBefore) drops whole days.
//
// A partition is made apart from request_log and then attached, which
// locks request_log only in SHARE UPDATE EXCLUSIVE mode, so inserts and
// queries carry on; rows that the default partition already holds for that
// day move into it in the same transaction.
const (
	partitionPrefix    = "request_log_p"
	partitionDayFormat = "20060102"
	defaultPartition   = "request_log_default"
	secondsPerDay      = 24 * 60 * 60

	// partitionLockTimeout bounds how long partition upkeep waits for a
	// long query on request_log before it gives up and tries later.
	partitionLockTimeout = "2s"
	// partitionRetry is how long upkeep waits after a failure for a day.
	partitionRetry = time.Minute
)

// dayOf returns t's UTC day number: days since 1970-01-01.
func dayOf(t time.Time) int64 {
	u := t.Unix()
	d := u / secondsPerDay
	if u%secondsPerDay < 0 {
		d--
	}
	return d
}

// dayStart returns the UTC midnight that starts day.
func dayStart(day int64) time.Time { return time.Unix(day*secondsPerDay, 0).UTC() }

// partitionName returns the name of day's partition.
func partitionName(day int64) string {
	return partitionPrefix + dayStart(day).Format(partitionDayFormat)
}

// partitionDay parses a partition name, and reports whether it is one.
func partitionDay(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, partitionPrefix)
	if !ok || len(rest) != len(partitionDayFormat) {
		return 0, false
	}
	t, err := time.Parse(partitionDayFormat, rest)
	if err != nil {
		return 0, false
	}
	return dayOf(t), true
}

// pgTime formats t as a timestamptz literal for DDL, which takes no
// parameters.
func pgTime(t time.Time) string { return "'" + t.UTC().Format("2006-01-02 15:04:05Z07:00") + "'" }

// listPartitions returns the days that have a partition, oldest first.
func (s *Store) listPartitions(ctx context.Context) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass($1)`, reqlog.SQLTable)
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	var days []int64
	for _, n := range names {
		if d, ok := partitionDay(n); ok {
			days = append(days, d)
		}
	}
	slices.Sort(days)
	return days, nil
}

// loadPartitions fills the cache of existing partitions.
func (s *Store) loadPartitions(ctx context.Context) error {
	days, err := s.listPartitions(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range days {
		s.days[d] = true
	}
	return nil
}

// ensurePartitions makes sure days from..to, and those of recs within the
// DaysBack..DaysAhead window, have partitions. Failures are logged and
// retried later, never returned: the default partition takes the rows
// meanwhile. Checking the cache costs a few map lookups per batch.
func (s *Store) ensurePartitions(ctx context.Context, from, to int64, recs []reqlog.Record) {
	now := s.opts.Now()
	today := dayOf(now)
	lo, hi := today-int64(s.opts.DaysBack), today+int64(s.opts.DaysAhead)
	var missing []int64
	s.mu.Lock()
	want := func(d int64) {
		if !s.days[d] && !slices.Contains(missing, d) && !now.Before(s.retryAfter[d]) {
			missing = append(missing, d)
		}
	}
	for d := from; d <= to; d++ {
		want(d)
	}
	last := int64(-1 << 62)
	for i := range recs {
		if d := dayOf(recs[i].Time); d != last && d >= lo && d <= hi {
			want(d)
			last = d
		}
	}
	s.mu.Unlock()

	if len(missing) == 0 {
		return
	}
	created, err := s.createPartitions(ctx, missing)
	s.mu.Lock()
	for _, d := range missing {
		if err == nil {
			s.days[d] = true
			delete(s.retryAfter, d)
		} else {
			s.retryAfter[d] = now.Add(partitionRetry)
		}
	}
	s.mu.Unlock()
	if err != nil {
		s.logger.Warn("request log partitions not created; rows go to the default partition",
			"first", partitionName(missing[0]), "count", len(missing), "err", err)
		return
	}
	for _, c := range created {
		s.logger.Info("request log partition created", "partition", c.name, "moved_rows", c.moved)
	}
}

// createdPartition reports one partition that createPartitions made.
type createdPartition struct {
	name  string
	moved int64 // rows moved in from the default partition
}

// createPartitions creates and attaches the partitions of days that do not
// exist yet, in one transaction, moving in the rows that the default
// partition holds for those days.
func (s *Store) createPartitions(ctx context.Context, days []int64) ([]createdPartition, error) {
	tx, err := s.lockedTx(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(ctx) }() // a no-op after Commit
	var created []createdPartition
	for _, day := range days {
		name := partitionName(day)
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil {
			return nil, err
		}
		if exists {
			continue // another replica made it
		}
		ident := pgx.Identifier{name}.Sanitize()
		from, to := dayStart(day), dayStart(day+1)
		if _, err := tx.Exec(ctx, "CREATE TABLE "+ident+" (LIKE "+reqlog.SQLTable+" INCLUDING DEFAULTS)"); err != nil {
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
		moved, err := tx.Exec(ctx, "WITH moved AS (DELETE FROM "+defaultPartition+
			" WHERE time >= $1 AND time < $2 RETURNING *) INSERT INTO "+ident+" SELECT * FROM moved", from, to)
		if err != nil {
			return nil, fmt.Errorf("fill %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, "ALTER TABLE "+reqlog.SQLTable+" ATTACH PARTITION "+ident+
			" FOR VALUES FROM ("+pgTime(from)+") TO ("+pgTime(to)+")"); err != nil {
			return nil, fmt.Errorf("attach %s: %w", name, err)
		}
		created = append(created, createdPartition{name: name, moved: moved.RowsAffected()})
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return created, nil
}

// dropPartition drops day's partition and returns how many rows it held.
func (s *Store) dropPartition(ctx context.Context, day int64) (int64, error) {
	name := partitionName(day)
	tx, err := s.lockedTx(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(ctx) }() // a no-op after Commit
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil {
		return 0, err
	}
	var n int64
	if exists {
		ident := pgx.Identifier{name}.Sanitize()
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+ident).Scan(&n); err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, "DROP TABLE "+ident); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	delete(s.days, day)
	s.mu.Unlock()
	return n, nil
}

// lockedTx begins a transaction that holds the schema's advisory lock and
// waits at most partitionLockTimeout for any lock.
func (s *Store) lockedTx(ctx context.Context) (pgx.Tx, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '"+partitionLockTimeout+"'"); err != nil {
		_ = tx.Rollback(ctx)
		return nil, err
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", s.lockKey); err != nil {
		_ = tx.Rollback(ctx)
		return nil, err
	}
	return tx, nil
}
