package kql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/pgstore"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

// rollupNow is the instant the rollup tests query at: not on any boundary.
var rollupNow = time.Date(2026, 11, 20, 13, 37, 11, 123456789, time.UTC)

// rollupRecords are ten days of calls at random instants, plus calls on and
// a microsecond around the hour and day boundaries the queries use.
func rollupRecords() []reqlog.Record {
	rng := mrand.New(mrand.NewPCG(7, 11))
	callers := []string{"key-a", "key-b", "Entra-OID-1", "anonymous", "key-c"}
	deps := []string{"gpt-4o", "gpt-4o-mini", "embed"}
	mk := func(t time.Time) reqlog.Record {
		r := reqlog.Record{
			Time:       t,
			RequestID:  fmt.Sprintf("req-%d", rng.Int64()),
			Caller:     callers[rng.IntN(len(callers))],
			AuthType:   "key",
			ClientIP:   fmt.Sprintf("10.0.0.%d", rng.IntN(200)),
			Listener:   []string{"public", "private"}[rng.IntN(2)],
			Deployment: deps[rng.IntN(len(deps))],
			Upstream:   []string{"east", "west"}[rng.IntN(2)],
			Operation:  "ChatCompletions_Create",
			APIVersion: "2024-10-21",
			Method:     "POST",
			Path:       fmt.Sprintf("/openai/deployments/x%d/chat/completions", rng.IntN(9)),
			Status:     200, UpstreamStatus: 200,
			TotalMs:     float64(rng.IntN(5000)) / 7,
			FirstByteMs: float64(rng.IntN(900)) / 3,
			Streamed:    rng.IntN(3) == 0,
			Attempts:    1 + rng.IntN(2),
		}
		r.Model = r.Deployment
		r.Replica = []string{"moat-a", "moat-b", "moat-c"}[rng.IntN(3)]
		switch rng.IntN(20) {
		case 0:
			r.Status, r.UpstreamStatus, r.ErrorKind = 429, 429, "upstream_rate_limit"
		case 1:
			r.Status, r.UpstreamStatus, r.ErrorKind = 500, 500, "upstream_error"
		case 2:
			r.Status, r.UpstreamStatus, r.ErrorKind = 429, 0, "policy_rate_limit"
		default:
			r.PromptTokens, r.CompletionTokens = rng.IntN(3000), rng.IntN(800)
			r.TotalTokens = r.PromptTokens + r.CompletionTokens
		}
		return r
	}
	var recs []reqlog.Record
	start := rollupNow.Add(-10 * 24 * time.Hour)
	for range 3000 {
		recs = append(recs, mk(start.Add(time.Duration(rng.Int64N(int64(10*24*time.Hour))))))
	}
	for _, b := range rollupBoundaries() {
		for _, d := range []time.Duration{-time.Microsecond, 0, time.Microsecond} {
			recs = append(recs, mk(b.Add(d)))
		}
	}
	return recs
}

// rollupBoundaries are the instants the queries' ranges start or end at.
func rollupBoundaries() []time.Time {
	day := rollupNow.Truncate(24 * time.Hour)
	hour := rollupNow.Truncate(time.Hour)
	return []time.Time{
		day.Add(-3 * 24 * time.Hour), day.Add(-24 * time.Hour), day,
		hour.Add(-5 * time.Hour), hour.Add(-time.Hour), hour,
		rollupNow.Add(-24 * time.Hour), rollupNow.Add(-7 * 24 * time.Hour),
	}
}

// rollupStores writes recs through the real stores, which keep the rollup.
func rollupStores(t *testing.T, recs []reqlog.Record) map[Dialect]*sql.DB {
	t.Helper()
	ctx := context.Background()
	dbs := map[Dialect]*sql.DB{}
	lite, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "moat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	if err := lite.WriteBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	dbs[SQLite] = lite.DB()

	dsn := os.Getenv("MOAT_TEST_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("postgres unreachable: %v", err)
		}
		t.Logf("postgres unreachable, skipping its checks: %v", err)
		return dbs
	}
	conn.Close(ctx)
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	schema := "kql_rollup_" + hex.EncodeToString(suffix[:])
	pg, err := pgstore.OpenWithOptions(ctx, dsn, pgstore.Options{Schema: schema, DaysBack: 12, DaysAhead: 1,
		Now: func() time.Time { return rollupNow }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pg.Close()
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	})
	// In batches, so buckets are added to across transactions.
	for i := 0; i < len(recs); i += 500 {
		if err := pg.WriteBatch(ctx, recs[i:min(i+500, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	dbs[Postgres] = pg.DB()
	return dbs
}

// TestRollupMatchesLog runs each query over the log alone and with the
// rollup, on both stores, and checks that the answers agree and that the
// rollup was used exactly where it can be.
func TestRollupMatchesLog(t *testing.T) {
	day := rollupNow.Truncate(24 * time.Hour)
	hour := rollupNow.Truncate(time.Hour)
	dt := func(t time.Time) string { return "datetime(" + t.Format(time.RFC3339Nano) + ")" }
	tests := []struct {
		name   string
		query  string
		rollup bool
	}{
		{"tokens by caller and deployment, 7d", `T | where TimeGenerated > ago(7d)
| summarize Tokens = sum(TotalTokens), Calls = count() by CallerId, DeploymentName`, true},
		{"dashboard totals", `T | where TimeGenerated >= ago(24h)
| summarize Calls = count(), Throttled = countif(ResponseCode == 429),
    Errors = countif(ResponseCode >= 400 and ResponseCode != 429), PromptTokens = sum(PromptTokens),
    TotalTokens = sum(TotalTokens), Callers = dcount(CallerId)`, true},
		{"hourly latency between", `T | where TimeGenerated between (` + dt(day.Add(-3*24*time.Hour)) + ` .. ` + dt(hour) + `)
| summarize avg(TotalTime), min(TotalTime), max(FirstByteTime), max(ResponseCode), min(DeploymentName) by bin(TimeGenerated, 1h)`, true},
		{"between a datetime and a timespan", `T | where TimeGenerated between (` + dt(day.Add(-24*time.Hour)) + ` .. 1d)
| summarize count(), sum(CompletionTokens) by DeploymentName`, true},
		{"no time filter, daily", `T | summarize count() by bin(TimeGenerated, 1d), DeploymentName`, true},
		{"no time filter, 2h", `T | summarize count(), avg(FirstByteTime) by bin(TimeGenerated, 2h)`, true},
		{"errors by reason", `T | where TimeGenerated > ago(3d) and CallerId in ("key-a", "key-b") and ResponseCode >= 400
| summarize Calls = count() by ResponseCode, LastErrorReason | order by Calls desc`, true},
		{"conditional aggregates", `T | where TimeGenerated > ago(2d)
| summarize sumif(TotalTokens, ResponseCode == 200), avgif(TotalTime, IsStreamCompletion), countif(Listener == "public") by BackendId`, true},
		{"day-aligned range", `T | where TimeGenerated >= ` + dt(day.Add(-3*24*time.Hour)) + ` and TimeGenerated < ` + dt(day) + `
| summarize count(), sum(TotalTokens) by bin(TimeGenerated, 1d)`, true},
		{"exclusive and inclusive hour edges", `T | where TimeGenerated > ` + dt(hour.Add(-5*time.Hour)) + `
| where TimeGenerated <= ` + dt(hour.Add(-time.Hour)) + ` | summarize count(), sum(Attempts)`, true},
		{"operators after summarize", `T | where TimeGenerated > ago(7d)
| summarize Calls = count(), Tokens = sum(TotalTokens) by CallerId
| extend PerCall = 1.0 * Tokens / Calls | top 3 by Tokens desc`, true},
		{"arithmetic of aggregates", `T | where TimeGenerated > ago(7d)
| summarize ThrottledPct = 100.0 * countif(ResponseCode == 429) / count() by DeploymentName`, true},
		{"tokens by replica, 7d", `T | where TimeGenerated > ago(7d) and Replica != "moat-c"
| summarize Calls = count(), Tokens = sum(TotalTokens), Errors = countif(ResponseCode >= 500) by Replica`, true},
		{"nothing matches", `T | where TimeGenerated > ago(7d) | where CallerId == "nobody"
| summarize count(), sum(TotalTokens), avg(TotalTime), dcount(DeploymentName)`, true},
		{"not a constant bound", `T | where TimeGenerated > ago(7d) and TimeGenerated < now() - 1h | summarize count()`, true},

		{"15-minute bins", `T | where TimeGenerated > ago(7d) | summarize count() by bin(TimeGenerated, 15m)`, false},
		{"percentiles", `T | where TimeGenerated > ago(7d) | summarize percentiles(TotalTime, 50, 95) by DeploymentName`, false},
		{"predicate on a measure", `T | where TimeGenerated > ago(7d) and TotalTokens > 100 | summarize count()`, false},
		{"countif on a measure", `T | where TimeGenerated > ago(7d) | summarize countif(TotalTokens > 100)`, false},
		{"sum of an expression", `T | where TimeGenerated > ago(7d) | summarize sum(PromptTokens + 1)`, false},
		{"less than an hour", `T | where TimeGenerated > ago(30m) | summarize count()`, false},
		{"time in an aggregate", `T | where TimeGenerated > ago(5d) | summarize max(TimeGenerated) by CallerId`, false},
		{"time under or", `T | where TimeGenerated > ago(5d) or CallerId == "key-a" | summarize count()`, false},
		{"column outside the rollup", `T | where TimeGenerated > ago(7d) | summarize count() by Url`, false},
		{"extend before summarize", `T | where TimeGenerated > ago(7d) | extend X = 1 | summarize count()`, false},
		{"empty range", `T | where TimeGenerated > ago(1d) and TimeGenerated < ago(2d) | summarize count()`, false},
	}
	dbs := rollupStores(t, rollupRecords())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			query := strings.Replace(tt.query, "T |", reqlog.TableName+" |", 1)
			var first [][]any
			for _, d := range []Dialect{SQLite, Postgres} {
				db := dbs[d]
				if db == nil {
					continue
				}
				plain := runOpts(t, db, d, query, Options{})
				rolled, q := runRollup(t, db, d, query)
				if q.Rollup != tt.rollup {
					t.Errorf("%s: rollup used = %v, want %v\n%s", d, q.Rollup, tt.rollup, q.SQL)
				}
				if !strings.Contains(query, "order by") && !strings.Contains(query, "top ") {
					sortRows(plain)
					sortRows(rolled)
				}
				opts := []cmp.Option{cmpopts.EquateApprox(0, 1e-9), cmpopts.EquateEmpty()}
				if diff := cmp.Diff(plain, rolled, opts...); diff != "" {
					t.Errorf("%s: log and rollup disagree (-log +rollup):\n%s\n%s", d, diff, q.SQL)
				}
				if len(plain) == 0 && !strings.Contains(tt.name, "nothing") && !strings.Contains(tt.name, "empty") {
					t.Errorf("%s: no rows; the test data should answer this query", d)
				}
				if first == nil {
					first = plain
				} else if diff := cmp.Diff(first, plain, opts...); diff != "" {
					t.Errorf("sqlite and postgres disagree (-sqlite +postgres):\n%s", diff)
				}
			}
		})
	}
}

func runRollup(t *testing.T, db *sql.DB, d Dialect, query string) ([][]any, *Query) {
	t.Helper()
	q, err := CompileOptions(query, d, rollupNow, Options{Rollup: true})
	if err != nil {
		t.Fatalf("compile for %s: %v", d, err)
	}
	return execute(t, db, q), q
}

func runOpts(t *testing.T, db *sql.DB, d Dialect, query string, o Options) [][]any {
	t.Helper()
	q, err := CompileOptions(query, d, rollupNow, o)
	if err != nil {
		t.Fatalf("compile for %s: %v", d, err)
	}
	return execute(t, db, q)
}
