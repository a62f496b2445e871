package kql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

// TestSQLitePercentileName keeps the dialect and the store in step.
func TestSQLitePercentileName(t *testing.T) {
	if SQLitePercentile != sqlitestore.PercentileFunc {
		t.Fatalf("kql uses %q, sqlitestore registers %q", SQLitePercentile, sqlitestore.PercentileFunc)
	}
}

// testRecords is the fixed dataset of the execution tests: 48 calls over
// the hour before testNow plus four older ones, across three deployments,
// four callers and a mix of successes, throttling and errors.
func testRecords() []reqlog.Record {
	deployments := []struct{ name, model, op, suffix string }{
		{"gpt-4o-mini", "gpt-4o-mini", "ChatCompletions_Create", "chat/completions"},
		{"gpt-4o", "gpt-4o", "ChatCompletions_Create", "chat/completions"},
		{"embed", "text-embedding-3-small", "Embeddings_Create", "embeddings"},
	}
	callers := []string{"key-a", "key-b", "Entra-OID-1", "anonymous"}
	var recs []reqlog.Record
	for i := 0; i < 52; i++ {
		d := deployments[i%3]
		r := reqlog.Record{
			Time:       testNow.Add(-time.Duration(i*71+13) * time.Second),
			RequestID:  fmt.Sprintf("req-%03d", i),
			Caller:     callers[i%4],
			AuthType:   []string{"key", "key", "entra", "none"}[i%4],
			ClientIP:   fmt.Sprintf("10.0.0.%d", i%7),
			Listener:   []string{"public", "private"}[i%2],
			Deployment: d.name,
			Model:      d.model,
			Upstream:   []string{"east", "west"}[(i/2)%2],
			Operation:  d.op,
			APIVersion: "2024-10-21",
			Method:     "POST",
			Path:       "/openai/deployments/" + d.name + "/" + d.suffix,
			Status:     200,
			TotalMs:    float64(40+(i*37)%211) + float64(i)/8,
			Region:     []string{"eastus", "westeurope"}[(i/3)%2],
			Replica:    []string{"moat-a", "moat-b", "moat-c"}[(i/5)%3],
			Attempts:   1 + i%3,
			Streamed:   i%2 == 0,
		}
		r.UpstreamStatus = 200
		r.UpstreamMs = r.TotalMs - 3
		r.FirstByteMs = r.TotalMs / 2
		switch {
		case i%11 == 3:
			r.Status, r.UpstreamStatus, r.ErrorKind = 429, 429, "upstream_rate_limit"
		case i%13 == 5:
			r.Status, r.UpstreamStatus, r.ErrorKind = 429, 0, "policy_rate_limit"
		case i%17 == 7:
			r.Status, r.UpstreamStatus, r.ErrorKind = 500, 500, "upstream_error"
			r.ErrorMessage = `backend said "no"`
		case i%19 == 2:
			r.Status, r.UpstreamStatus, r.ErrorKind = 401, 0, "client_auth"
			r.Deployment, r.Model = "", ""
		}
		if r.Status == 200 {
			r.PromptTokens = 10*i + 5
			if d.op != "Embeddings_Create" {
				r.CompletionTokens = 3*i + 1
			}
			r.TotalTokens = r.PromptTokens + r.CompletionTokens
			r.TokensEstimated = i%5 == 0
		}
		if i >= 48 {
			r.Time = testNow.Add(-48*time.Hour - time.Duration(i)*time.Minute)
		}
		r.RequestBytes = int64(100 + i)
		r.ResponseBytes = int64(1000 + 10*i)
		r.RequestBody = `{"messages":[{"role":"user","content":"it's 'quoted'"}]}`
		recs = append(recs, r)
	}
	return recs
}

// sqliteTypes and postgresTypes are the stores' column types for each
// reqlog type (time: see SQLiteTimeEncoding, PostgresTimeEncoding).
var (
	sqliteTypes = map[reqlog.ColumnType]string{reqlog.TypeTime: "INTEGER", reqlog.TypeString: "TEXT",
		reqlog.TypeInt: "INTEGER", reqlog.TypeReal: "REAL", reqlog.TypeBool: "INTEGER"}
	postgresTypes = map[reqlog.ColumnType]string{reqlog.TypeTime: "timestamptz", reqlog.TypeString: "text",
		reqlog.TypeInt: "bigint", reqlog.TypeReal: "double precision", reqlog.TypeBool: "boolean"}
)

// createTable creates request_log from reqlog.Columns and inserts recs.
func createTable(t *testing.T, db *sql.DB, d Dialect, recs []reqlog.Record) {
	t.Helper()
	ctx := context.Background()
	types, id := sqliteTypes, "id INTEGER PRIMARY KEY"
	if d == Postgres {
		types, id = postgresTypes, "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
	}
	defs := []string{id}
	var names, marks []string
	for i, c := range reqlog.Columns() {
		defs = append(defs, c.SQL+" "+types[c.Type]+" NOT NULL")
		names = append(names, c.SQL)
		if d == Postgres {
			marks = append(marks, fmt.Sprintf("$%d", i+1))
		} else {
			marks = append(marks, "?")
		}
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+reqlog.SQLTable+" ("+strings.Join(defs, ", ")+")"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	insert := "INSERT INTO " + reqlog.SQLTable + " (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(marks, ", ") + ")"
	for _, r := range recs {
		vals := r.Values()
		if d == SQLite {
			vals[0] = r.Time.UTC().UnixMicro()
		}
		if _, err := db.ExecContext(ctx, insert, vals...); err != nil {
			t.Fatalf("insert: %v", err)
		}
	}
}

// openSQLite returns a temporary SQLite database holding recs.
func openSQLite(t *testing.T, recs []reqlog.Record) *sql.DB {
	t.Helper()
	if err := sqlitestore.RegisterFunctions(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	createTable(t, db, SQLite, recs)
	indexCallers(t, db, int64(len(recs)/2))
	return db
}

// indexCallers creates the SQLite store's caller index (migration 14 of
// sqlitestore) holding the rows up to id through, as the store leaves it
// between two of its flushes: a query by CallerId must find the rows past
// through in the log and the others through the index.
func indexCallers(t *testing.T, db *sql.DB, through int64) {
	t.Helper()
	for _, q := range []string{
		"CREATE TABLE " + reqlog.CallerIndexTable + " (caller TEXT NOT NULL, time INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (caller, time, id)) WITHOUT ROWID",
		"CREATE TABLE " + reqlog.CallerIndexStateTable + " (one INTEGER PRIMARY KEY CHECK (one = 1), through_id INTEGER NOT NULL)",
		fmt.Sprintf("INSERT INTO %s SELECT caller, time, id FROM %s WHERE id <= %d", reqlog.CallerIndexTable, reqlog.SQLTable, through),
		fmt.Sprintf("INSERT INTO %s VALUES (1, %d)", reqlog.CallerIndexStateTable, through),
	} {
		if _, err := db.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// openPostgres returns a connection to a fresh schema holding recs, or nil
// when PostgreSQL is unreachable (a failure instead when CI is set).
func openPostgres(t *testing.T, recs []reqlog.Record) *sql.DB {
	t.Helper()
	dsn := os.Getenv("MOAT_TEST_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parse MOAT_TEST_POSTGRES: %v", err)
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	schema := "kql_test_" + hex.EncodeToString(suffix[:])
	cfg.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if os.Getenv("CI") != "" {
			t.Fatalf("postgres unreachable: %v", err)
		}
		t.Logf("postgres unreachable, skipping its checks: %v", err)
		return nil
	}
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		db.Close()
	})
	createTable(t, db, Postgres, recs)
	return db
}

// run compiles query for d, executes it on db and returns decoded rows.
func run(t *testing.T, db *sql.DB, d Dialect, query string) ([][]any, *Query) {
	t.Helper()
	q, err := Compile(query, d, testNow)
	if err != nil {
		t.Fatalf("compile for %s: %v", d, err)
	}
	return execute(t, db, q), q
}

// execute runs q on db and returns its decoded rows.
func execute(t *testing.T, db *sql.DB, q *Query) [][]any {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q.SQL, q.Args...)
	if err != nil {
		t.Fatalf("query on %s: %v\n%s", q.Dialect, err, q.SQL)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		row := make([]any, len(q.Columns))
		ptrs := make([]any, len(row))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("scan on %s: %v", q.Dialect, err)
		}
		if err := q.DecodeRow(row); err != nil {
			t.Fatalf("decode on %s: %v", q.Dialect, err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("rows on %s: %v", q.Dialect, err)
	}
	return out
}

func recent(recs []reqlog.Record, d time.Duration) []reqlog.Record {
	var out []reqlog.Record
	for _, r := range recs {
		if r.Time.After(testNow.Add(-d)) {
			out = append(out, r)
		}
	}
	return out
}

func countWhere(pred func(r reqlog.Record) bool) func([]reqlog.Record) [][]any {
	return func(recs []reqlog.Record) [][]any {
		n := int64(0)
		for _, r := range recs {
			if pred(r) {
				n++
			}
		}
		return [][]any{{n}}
	}
}

// idsWhere is the expectation of "project CorrelationId" over the records
// pred admits.
func idsWhere(pred func(r reqlog.Record) bool) func([]reqlog.Record) [][]any {
	return func(recs []reqlog.Record) [][]any {
		var out [][]any
		for _, r := range recs {
			if pred(r) {
				out = append(out, []any{r.RequestID})
			}
		}
		return out
	}
}

// percentileCont interpolates between closest ranks like PostgreSQL.
func percentileCont(vals []float64, p float64) float64 {
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	pos := p / 100 * float64(len(s)-1)
	lo, hi := math.Floor(pos), math.Ceil(pos)
	return s[int(lo)] + (pos-lo)*(s[int(hi)]-s[int(lo)])
}

// groupBy groups recs by key, in first-seen order.
func groupBy(recs []reqlog.Record, key func(r reqlog.Record) string) ([]string, map[string][]reqlog.Record) {
	var keys []string
	m := map[string][]reqlog.Record{}
	for _, r := range recs {
		k := key(r)
		if _, ok := m[k]; !ok {
			keys = append(keys, k)
		}
		m[k] = append(m[k], r)
	}
	return keys, m
}

// sortRows orders rows canonically for results without a defined order.
func sortRows(rows [][]any) {
	sort.Slice(rows, func(i, j int) bool { return fmt.Sprint(rows[i]) < fmt.Sprint(rows[j]) })
}

// TestExecuteGoldenQueries runs every testdata/*.kql on both databases, so
// each golden SQL is known to execute, and compares the two results.
func TestExecuteGoldenQueries(t *testing.T) {
	recs := testRecords()
	lite := openSQLite(t, recs)
	pg := openPostgres(t, recs)
	files, err := filepath.Glob("testdata/*.kql")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(strings.TrimSuffix(filepath.Base(file), ".kql"), func(t *testing.T) {
			var got [][]any
			if _, err := Compile(string(src), SQLite, testNow); err == nil {
				got, _ = run(t, lite, SQLite, string(src))
				sortRows(got)
			}
			if pg == nil {
				return
			}
			pgRows, _ := run(t, pg, Postgres, string(src))
			sortRows(pgRows)
			if got == nil {
				return // not supported on SQLite
			}
			if diff := cmp.Diff(got, pgRows, cmpopts.EquateApprox(0, 1e-9), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("sqlite and postgres disagree (-sqlite +postgres):\n%s", diff)
			}
		})
	}
}
