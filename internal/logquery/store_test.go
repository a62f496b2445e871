package logquery_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/kql"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/pgstore"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

// testNow is the clock of every test: the seeded records sit just before it.
var testNow = time.Date(2026, 3, 14, 12, 30, 0, 0, time.UTC)

// seed is a small, known traffic: 6 calls on two deployments from two
// callers, one 429 and one 500.
func seed() []reqlog.Record {
	mk := func(min int, caller, dep string, status int, kind string, ms float64, prompt, completion int) reqlog.Record {
		return reqlog.Record{
			Time: testNow.Add(-time.Duration(min) * time.Minute), RequestID: fmt.Sprintf("req-%02d", min),
			Caller: caller, AuthType: "key", Deployment: dep, Model: "gpt-4o", Operation: "ChatCompletions_Create",
			Method: "POST", Path: "/openai/deployments/" + dep + "/chat/completions", Status: status,
			ErrorKind: kind, TotalMs: ms, PromptTokens: prompt, CompletionTokens: completion,
			TotalTokens: prompt + completion, Streamed: min%2 == 0, Attempts: 1,
		}
	}
	return []reqlog.Record{
		mk(50, "alice", "gpt-4o", 200, "", 120.5, 100, 20),
		mk(40, "alice", "gpt-4o", 200, "", 80.25, 200, 40),
		mk(30, "bob", "gpt-4o-mini", 200, "", 40, 10, 5),
		mk(20, "bob", "gpt-4o-mini", 429, "upstream_rate_limit", 3, 0, 0),
		mk(10, "alice", "gpt-4o-mini", 500, "upstream_error", 900, 0, 0),
		mk(5, "bob", "gpt-4o", 200, "", 60, 300, 60),
	}
}

// database is a seeded store under test.
type database struct {
	name    string
	db      *sql.DB
	dialect kql.Dialect
}

// sqliteDB opens a temporary SQLite store seeded with recs.
func sqliteDB(t testing.TB, recs []reqlog.Record) database {
	t.Helper()
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "moat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.WriteBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	return database{name: "sqlite", db: s.DB(), dialect: kql.SQLite}
}

// postgresDB opens a PostgreSQL store in a fresh schema seeded with recs;
// it skips when PostgreSQL is unreachable, unless CI is set.
func postgresDB(t testing.TB, recs []reqlog.Record) database {
	t.Helper()
	dsn := os.Getenv("MOAT_TEST_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL unreachable: %v", err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "moat_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	s, err := pgstore.OpenWithOptions(ctx, dsn, pgstore.Options{Schema: schema, Now: func() time.Time { return testNow }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.WriteBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	return database{name: "postgres", db: s.DB(), dialect: kql.Postgres}
}

// databases returns both stores seeded with recs.
func databases(t *testing.T, recs []reqlog.Record) []database {
	return []database{sqliteDB(t, recs), postgresDB(t, recs)}
}
