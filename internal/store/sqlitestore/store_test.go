package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/affinity"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
	"github.com/moat-gw/moat/internal/store/storetest"
)

// newStore is the storetest.Factory for SQLite: a file in a fresh folder
// that the open creates.
func newStore(tb testing.TB) storetest.Opener {
	path := filepath.Join(tb.TempDir(), "sub", "dir", "moat.db")
	return func(tb testing.TB) reqlog.Store {
		return open(tb, path)
	}
}

func open(tb testing.TB, path string) *sqlitestore.Store {
	tb.Helper()
	return openWith(tb, path, func(ctx context.Context, path string) (*sqlitestore.Store, error) {
		return sqlitestore.Open(ctx, path, nil)
	})
}

// openWith opens the store at path with opener, closed at the test's end.
func openWith(tb testing.TB, path string, opener func(context.Context, string) (*sqlitestore.Store, error)) *sqlitestore.Store {
	tb.Helper()
	s, err := opener(context.Background(), path)
	if err != nil {
		tb.Fatalf("Open(%q): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, newStore)
}

// TestContractDriverBind runs the contract with the request log's insert
// bound through the driver, the store's path when it cannot reach the
// connection's handle.
func TestContractDriverBind(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) storetest.Opener {
		path := filepath.Join(tb.TempDir(), "moat.db")
		return func(tb testing.TB) reqlog.Store {
			return openWith(tb, path, sqlitestore.OpenBindingThroughDriver)
		}
	})
}

func BenchmarkWriteBatch(b *testing.B) {
	storetest.BenchmarkWriteBatch(b, newStore)
}

func TestOpenInvalidPath(t *testing.T) {
	tests := []struct {
		name string
		path string
	}{
		{"empty", ""},
		{"query string", filepath.Join(t.TempDir(), "x.db?mode=ro")},
		{"uri", "file:x.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := sqlitestore.Open(context.Background(), tt.path, nil); err == nil {
				s.Close()
				t.Errorf("Open(%q) succeeded, want an error", tt.path)
			}
		})
	}
}

// TestSchemaMatchesColumns keeps migrations and reqlog.Columns in step: a
// column added to one needs the other.
func TestSchemaMatchesColumns(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "moat.db"))
	rows, err := s.DB().QueryContext(context.Background(), "SELECT name, type FROM pragma_table_info('request_log') ORDER BY cid")
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
		reqlog.TypeTime: "INTEGER", reqlog.TypeString: "TEXT", reqlog.TypeInt: "INTEGER",
		reqlog.TypeReal: "REAL", reqlog.TypeBool: "INTEGER",
	}
	want := [][2]string{{"id", "INTEGER"}}
	for _, c := range reqlog.Columns() {
		want = append(want, [2]string{c.SQL, sqlType[c.Type]})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request_log columns (-Columns +table):\n%s", diff)
	}
}

func TestMigrationsRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "moat.db")
	open(t, path)
	s := open(t, path) // a second process-like open on the same file
	var versions []int
	rows, err := s.DB().QueryContext(context.Background(), "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	for i, v := range versions {
		if v != i+1 {
			t.Fatalf("schema_migrations versions = %v, want 1..n without gaps", versions)
		}
	}
	if len(versions) == 0 {
		t.Fatal("no migrations recorded")
	}
}

func TestPragmas(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "moat.db"))
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"busy_timeout", "5000"},
		{"foreign_keys", "1"},
		{"query_only", "1"}, // DB() is for reading
	}
	for _, tt := range tests {
		t.Run(tt.pragma, func(t *testing.T) {
			var got string
			if err := s.DB().QueryRowContext(context.Background(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
	for _, tt := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "1"}, // NORMAL
		{"wal_autocheckpoint", strconv.Itoa(sqlitestore.WALCheckpointPages)},
		{"query_only", "0"},
	} {
		if got, err := s.WritePragma(context.Background(), tt.pragma); err != nil || got != tt.want {
			t.Errorf("write connection: PRAGMA %s = %q, %v; want %q", tt.pragma, got, err, tt.want)
		}
	}
	if _, err := s.DB().ExecContext(context.Background(), "DELETE FROM request_log"); err == nil {
		t.Error("DB() accepted a write")
	}
	if got := s.Dialect(); got != "sqlite" {
		t.Errorf("Dialect() = %q", got)
	}
}

// TestTimeEncoding checks the exported encoding against what SQLite does
// with it, as the query compiler will use it.
func TestTimeEncoding(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "moat.db"))
	ts := time.Date(2025, 3, 4, 5, 6, 7, 890123456, time.UTC)
	if got := sqlitestore.DecodeTime(sqlitestore.EncodeTime(ts)); !got.Equal(ts.Truncate(time.Microsecond)) {
		t.Errorf("DecodeTime(EncodeTime(%v)) = %v", ts, got)
	}
	tests := []struct {
		name string
		t    time.Time
		d    time.Duration
		want time.Time
	}{
		{"hour", ts, time.Hour, time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC)},
		{"day", ts, 24 * time.Hour, time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC)},
		{"5 minutes", ts, 5 * time.Minute, time.Date(2025, 3, 4, 5, 5, 0, 0, time.UTC)},
		{"microsecond", ts, time.Nanosecond, ts.Truncate(time.Microsecond)},
		{"before 1970", time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC), time.Hour, time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got int64
			// The placeholder appears more than once; bind it by number.
			q := "SELECT " + sqlitestore.BinTimeSQL("?1", tt.d)
			if err := s.DB().QueryRowContext(context.Background(), q, sqlitestore.EncodeTime(tt.t)).Scan(&got); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if g := sqlitestore.DecodeTime(got); !g.Equal(tt.want) {
				t.Errorf("bin(%v, %v) = %v, want %v", tt.t, tt.d, g, tt.want)
			}
		})
	}
}

func TestRollupBackfill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "moat.db")
	storetest.RollupBackfill(t, func(tb testing.TB) reqlog.Store { return open(tb, path) }, func(t *testing.T) {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		// Back to the schema before migration 4 (and 5, which rebuilds the
		// rollup with the replica dimension).
		if _, err := db.Exec("DROP TABLE " + reqlog.RollupTable + "; DROP TABLE replicas; ALTER TABLE request_log DROP COLUMN replica;" +
			" ALTER TABLE request_log DROP COLUMN first_token_ms;" +
			" ALTER TABLE request_log DROP COLUMN guardrail;" + undoTeamsAndCost +
			" DROP INDEX request_log_request_id; DROP TABLE pins;" +
			" DELETE FROM schema_migrations WHERE version >= 4"); err != nil {
			t.Fatalf("forget rollup migration: %v", err)
		}
	})
}

func TestDedupeMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "moat.db")
	storetest.DedupeMigration(t, func(tb testing.TB) reqlog.Store { return open(tb, path) }, func(t *testing.T, dup string) {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec("DROP INDEX request_log_request_id; " +
			"DELETE FROM schema_migrations WHERE name = 'request_log_request_id_unique'; " + dup +
			"; ALTER TABLE request_log DROP COLUMN first_token_ms; ALTER TABLE request_log DROP COLUMN guardrail;" +
			" DROP TABLE pins;" + undoTeamsAndCost +
			" DELETE FROM schema_migrations WHERE version > 6"); err != nil {
			t.Fatalf("forget dedupe migration: %v", err)
		}
	})
}

// undoTeamsAndCost undoes migration 10 (teams_and_cost), for tests that
// forget a migration and run the later ones again.
const undoTeamsAndCost = " ALTER TABLE request_log DROP COLUMN key_name; ALTER TABLE request_log DROP COLUMN owner;" +
	" ALTER TABLE request_log DROP COLUMN team; ALTER TABLE request_log DROP COLUMN cost;" +
	" ALTER TABLE request_log DROP COLUMN price_version; DROP TABLE teams; DROP TABLE team_members;" +
	" ALTER TABLE api_keys DROP COLUMN team;" + undoHeaders

// undoHeaders undoes migration 11 (request_log_headers) and the later ones.
const undoHeaders = " ALTER TABLE request_log DROP COLUMN headers;" + undoIdentityChanges

// undoIdentityChanges undoes migration 12 (identity_changes).
const undoIdentityChanges = " DROP TRIGGER api_keys_changed_insert; DROP TRIGGER api_keys_changed_update; DROP TRIGGER api_keys_changed_delete;" +
	" DROP TRIGGER role_assignments_changed_insert; DROP TRIGGER role_assignments_changed_update; DROP TRIGGER role_assignments_changed_delete;" +
	" DROP TABLE identity_changes;" + undoRollupState

// undoRollupState undoes migration 13 (request_log_rollup_state).
const undoRollupState = " DROP TABLE request_log_rollup_state;" + undoCallerIndex

// undoCallerIndex undoes migration 14 (request_log_by_caller).
const undoCallerIndex = " DROP TRIGGER request_log_by_caller_delete; DROP TABLE request_log_by_caller;" +
	" DROP TABLE request_log_by_caller_state; CREATE INDEX request_log_caller_time ON request_log (caller, time);"

// BenchmarkPins is the store side of a pin: the write every Responses
// create, upload and batch create makes before its answer reaches the
// client, and the read of a pin another replica wrote.
func BenchmarkPins(b *testing.B) {
	var st affinity.Store = open(b, filepath.Join(b.TempDir(), "moat.db"))
	ctx := context.Background()
	now := time.Now()
	b.Run("put", func(b *testing.B) {
		i := 0
		for b.Loop() {
			p := affinity.Pin{ID: fmt.Sprintf("resp_%d", i), Kind: affinity.KindResponse, Deployment: "chat", Member: "east",
				Created: now, Expires: now.Add(affinity.DefaultTTL)}
			if err := st.PutPin(ctx, p); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("get", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.GetPin(ctx, "resp_0", now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
