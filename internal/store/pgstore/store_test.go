package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/pgstore"
	"github.com/moat-gw/moat/internal/store/storetest"
)

// testDSN returns the test database's DSN, skipping the test when it is
// unreachable outside CI.
func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("MOAT_TEST_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("PostgreSQL unreachable: %v", err)
		}
		tb.Skipf("PostgreSQL unreachable: %v", err)
	}
	conn.Close(ctx)
	return dsn
}

// newSchema returns a fresh schema name, dropped when tb ends.
func newSchema(tb testing.TB, dsn string) string {
	tb.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "moat_test_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

func open(tb testing.TB, dsn string, opts pgstore.Options) *pgstore.Store {
	tb.Helper()
	s, err := pgstore.OpenWithOptions(context.Background(), dsn, opts, nil)
	if err != nil {
		tb.Fatalf("Open(schema %s): %v", opts.Schema, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// newStore is the storetest.Factory for PostgreSQL: a schema of its own.
func newStore(tb testing.TB) storetest.Opener {
	dsn := testDSN(tb)
	schema := newSchema(tb, dsn)
	return func(tb testing.TB) reqlog.Store {
		// Few days ahead: partition upkeep at Open is DDL, slow-ish.
		return open(tb, dsn, pgstore.Options{Schema: schema, DaysAhead: 2})
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, newStore)
}

func BenchmarkWriteBatch(b *testing.B) {
	storetest.BenchmarkWriteBatch(b, newStore)
}

// TestSchemaMatchesColumns keeps migrations and reqlog.Columns in step: a
// column added to one needs the other.
func TestSchemaMatchesColumns(t *testing.T) {
	dsn := testDSN(t)
	s := open(t, dsn, pgstore.Options{Schema: newSchema(t, dsn)})
	rows, err := s.DB().QueryContext(context.Background(), `SELECT column_name, data_type FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'request_log' ORDER BY ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got [][2]string
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		got = append(got, [2]string{name, typ})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sqlType := map[reqlog.ColumnType]string{
		reqlog.TypeTime: "timestamp with time zone", reqlog.TypeString: "text", reqlog.TypeInt: "bigint",
		reqlog.TypeReal: "double precision", reqlog.TypeBool: "boolean",
	}
	want := [][2]string{{"id", "bigint"}}
	for _, c := range reqlog.Columns() {
		want = append(want, [2]string{c.SQL, sqlType[c.Type]})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request_log columns (-Columns +table):\n%s", diff)
	}
	if got := s.Dialect(); got != "postgres" {
		t.Errorf("Dialect() = %q", got)
	}
}

// TestConcurrentOpen starts several replicas on one empty schema at once:
// the advisory lock lets one migrate and the others find the work done.
func TestConcurrentOpen(t *testing.T) {
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	const replicas = 4
	var wg sync.WaitGroup
	errs := make(chan error, replicas)
	for range replicas {
		wg.Go(func() {
			s, err := pgstore.OpenWithOptions(context.Background(), dsn, pgstore.Options{Schema: schema}, nil)
			if err != nil {
				errs <- err
				return
			}
			errs <- s.WriteBatch(context.Background(), storetest.Records(time.Now(), 10))
			s.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	s := open(t, dsn, pgstore.Options{Schema: schema})
	var versions []int
	rows, err := s.Pool().Query(context.Background(), "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	if versions, err = pgx.CollectRows(rows, pgx.RowTo[int]); err != nil {
		t.Fatal(err)
	}
	if len(versions) == 0 || versions[0] != 1 || versions[len(versions)-1] != len(versions) {
		t.Errorf("schema_migrations versions = %v, want 1..n once each", versions)
	}
	recs, err := s.After(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != replicas*10 {
		t.Errorf("stored %d records, want %d", len(recs), replicas*10)
	}
}

func TestOpenInvalidDSN(t *testing.T) {
	_, err := pgstore.Open(context.Background(), "postgres://moat:s3cret-pw@127.0.0.1:notaport/db", nil)
	if err == nil {
		t.Fatal("Open succeeded with a malformed DSN")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error reveals the password: %v", err)
	}
}

func TestCleanText(t *testing.T) {
	dsn := testDSN(t)
	s := open(t, dsn, pgstore.Options{Schema: newSchema(t, dsn)})
	rec := reqlog.Record{Time: time.Now(), ErrorMessage: "nul\x00byte", RequestBody: "bad \xff utf8"}
	if err := s.WriteBatch(context.Background(), []reqlog.Record{rec}); err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	recs, err := s.After(context.Background(), 0, 10)
	if err != nil || len(recs) != 1 {
		t.Fatalf("After = %d records, %v", len(recs), err)
	}
	got := [2]string{recs[0].ErrorMessage, recs[0].RequestBody}
	want := [2]string{"nul\uFFFDbyte", "bad \uFFFD utf8"}
	if got != want {
		t.Errorf("stored %q, want %q", got, want)
	}
}

func TestBinTimeSQL(t *testing.T) {
	dsn := testDSN(t)
	s := open(t, dsn, pgstore.Options{Schema: newSchema(t, dsn)})
	ts := time.Date(2025, 3, 4, 5, 6, 7, 890123000, time.UTC)
	tests := []struct {
		name string
		t    time.Time
		d    time.Duration
		want time.Time
	}{
		{"hour", ts, time.Hour, time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC)},
		{"day", ts, 24 * time.Hour, time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC)},
		{"5 minutes", ts, 5 * time.Minute, time.Date(2025, 3, 4, 5, 5, 0, 0, time.UTC)},
		{"microsecond", ts, time.Nanosecond, ts},
		{"before 1970", time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC), time.Hour, time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got time.Time
			q := "SELECT " + pgstore.BinTimeSQL("$1::timestamptz", tt.d)
			if err := s.DB().QueryRowContext(context.Background(), q, tt.t).Scan(&got); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("bin(%v, %v) = %v, want %v", tt.t, tt.d, got.UTC(), tt.want)
			}
		})
	}
}

func TestRollupBackfill(t *testing.T) {
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	opts := pgstore.Options{Schema: schema, DaysAhead: 2}
	storetest.RollupBackfill(t, func(tb testing.TB) reqlog.Store { return open(tb, dsn, opts) }, func(t *testing.T) {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		// Back to the schema before migration 4: migration 6 rebuilt the
		// rollup with the replica dimension and 7 added an index; every
		// step after 4 runs again.
		if _, err := conn.Exec(context.Background(), "DROP TABLE "+schema+"."+reqlog.RollupTable+
			"; DROP TABLE "+schema+".replicas; ALTER TABLE "+schema+".request_log DROP COLUMN replica, DROP COLUMN first_token_ms, DROP COLUMN guardrail"+
			", DROP COLUMN key_name, DROP COLUMN owner, DROP COLUMN team, DROP COLUMN cost, DROP COLUMN price_version, DROP COLUMN headers"+
			"; DROP TABLE "+schema+".teams, "+schema+".team_members; ALTER TABLE "+schema+".api_keys DROP COLUMN team"+
			"; DROP INDEX "+schema+".request_log_request_id; DROP TABLE "+schema+".pins"+
			"; DELETE FROM "+schema+".schema_migrations WHERE version >= 4"); err != nil {
			t.Fatalf("forget rollup migration: %v", err)
		}
	})
}

func TestDedupeMigration(t *testing.T) {
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	opts := pgstore.Options{Schema: schema, DaysAhead: 2}
	storetest.DedupeMigration(t, func(tb testing.TB) reqlog.Store { return open(tb, dsn, opts) }, func(t *testing.T, dup string) {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		// Migrations run from the highest version applied: forget from
		// this one on (and undo the later ones).
		if _, err := conn.Exec(context.Background(), "SET search_path TO "+schema+"; DROP INDEX request_log_request_id; "+
			"DELETE FROM schema_migrations WHERE version >= (SELECT version FROM schema_migrations WHERE name = 'request_log_request_id_unique'); "+
			dup+"; ALTER TABLE request_log DROP COLUMN first_token_ms, DROP COLUMN guardrail"+
			", DROP COLUMN key_name, DROP COLUMN owner, DROP COLUMN team, DROP COLUMN cost, DROP COLUMN price_version, DROP COLUMN headers"+
			"; DROP TABLE teams, team_members; ALTER TABLE api_keys DROP COLUMN team; DROP TABLE pins"); err != nil {
			t.Fatalf("forget dedupe migration: %v", err)
		}
	})
}
