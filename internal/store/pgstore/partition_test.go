package pgstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/pgstore"
)

// clock is a settable Options.Now.
type clock struct{ unixNano atomic.Int64 }

func (c *clock) Now() time.Time                { return time.Unix(0, c.unixNano.Load()).UTC() }
func (c *clock) Set(t time.Time)               { c.unixNano.Store(t.UnixNano()) }
func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// partitions lists request_log's partitions by name.
func partitions(t *testing.T, s *pgstore.Store) []string {
	t.Helper()
	rows, err := s.Pool().Query(context.Background(), `SELECT c.relname::text FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'request_log'::regclass ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// placement maps each record's RequestID to the partition that holds it.
func placement(t *testing.T, s *pgstore.Store) map[string]string {
	t.Helper()
	rows, err := s.Pool().Query(context.Background(), "SELECT request_id, tableoid::regclass::text FROM request_log")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var id, part string
		if err := rows.Scan(&id, &part); err != nil {
			t.Fatal(err)
		}
		got[id] = part
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPartitions(t *testing.T) {
	dsn := testDSN(t)
	var clk clock
	clk.Set(day(2030, 6, 10).Add(15 * time.Hour))
	schema := newSchema(t, dsn)
	s := open(t, dsn, pgstore.Options{Schema: schema, DaysAhead: 2, DaysBack: 3, Now: clk.Now})
	ctx := context.Background()

	want := []string{"request_log_default", "request_log_p20300609", "request_log_p20300610",
		"request_log_p20300611", "request_log_p20300612"}
	if diff := cmp.Diff(want, partitions(t, s)); diff != "" {
		t.Fatalf("partitions after Open (-want +got):\n%s", diff)
	}

	at := func(id string, t time.Time) reqlog.Record { return reqlog.Record{RequestID: id, Time: t} }
	batch := []reqlog.Record{
		at("today", day(2030, 6, 10).Add(time.Hour)),
		at("three days back", day(2030, 6, 7).Add(23*time.Hour)), // within DaysBack: gets a partition
		at("long ago", day(2030, 1, 1)),                          // beyond DaysBack: default
		at("far ahead", day(2030, 6, 14).Add(time.Minute)),       // beyond DaysAhead: default for now
	}
	if err := s.WriteBatch(ctx, batch); err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	wantPlaces := map[string]string{
		"today":           "request_log_p20300610",
		"three days back": "request_log_p20300607",
		"long ago":        "request_log_default",
		"far ahead":       "request_log_default",
	}
	if diff := cmp.Diff(wantPlaces, placement(t, s)); diff != "" {
		t.Fatalf("rows by partition (-want +got):\n%s", diff)
	}

	// Two days later the 14th is within DaysAhead: upkeep on the next write
	// creates its partition and moves the row out of the default.
	clk.Set(day(2030, 6, 12).Add(time.Hour))
	if err := s.WriteBatch(ctx, []reqlog.Record{at("later", clk.Now())}); err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	wantPlaces["far ahead"] = "request_log_p20300614"
	wantPlaces["later"] = "request_log_p20300612"
	if diff := cmp.Diff(wantPlaces, placement(t, s)); diff != "" {
		t.Fatalf("rows by partition after upkeep (-want +got):\n%s", diff)
	}

	// Retention at noon on the 10th drops every partition that ends by
	// then and trims the 10th's; the default keeps only what is newer.
	n, err := s.DeleteBefore(ctx, day(2030, 6, 10).Add(12*time.Hour))
	if err != nil {
		t.Fatalf("DeleteBefore: %v", err)
	}
	if n != 3 {
		t.Errorf("DeleteBefore deleted %d rows, want 3 (three days back, long ago, today)", n)
	}
	want = []string{"request_log_default", "request_log_p20300610", "request_log_p20300611",
		"request_log_p20300612", "request_log_p20300613", "request_log_p20300614"}
	if diff := cmp.Diff(want, partitions(t, s)); diff != "" {
		t.Errorf("partitions after DeleteBefore (-want +got):\n%s", diff)
	}
	delete(wantPlaces, "today")
	delete(wantPlaces, "three days back")
	delete(wantPlaces, "long ago")
	if diff := cmp.Diff(wantPlaces, placement(t, s)); diff != "" {
		t.Errorf("rows by partition after DeleteBefore (-want +got):\n%s", diff)
	}

	// A second store (another replica) sees the same partitions and does
	// not trip over them.
	other := open(t, dsn, pgstore.Options{Schema: schema, DaysAhead: 2, DaysBack: 3, Now: clk.Now})
	if err := other.WriteBatch(ctx, []reqlog.Record{at("replica", clk.Now())}); err != nil {
		t.Fatalf("replica WriteBatch: %v", err)
	}
}
