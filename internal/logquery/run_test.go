package logquery_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/moat-gw/moat/internal/kql"
	"github.com/moat-gw/moat/internal/logquery"
	"github.com/moat-gw/moat/internal/reqlog"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		query      string
		wantCols   []kql.OutColumn
		wantRows   [][]any
		wantRender string
	}{
		{
			name:     "count",
			query:    "MoatGatewayLogs | count",
			wantCols: []kql.OutColumn{{Name: "Count", Type: reqlog.TypeInt}},
			wantRows: [][]any{{int64(6)}},
		},
		{
			name: "tokens by deployment",
			query: `MoatGatewayLogs | where TimeGenerated > ago(1h)
				| summarize Tokens = sum(TotalTokens), Calls = count() by DeploymentName | order by DeploymentName asc`,
			wantCols: []kql.OutColumn{{Name: "DeploymentName", Type: reqlog.TypeString},
				{Name: "Tokens", Type: reqlog.TypeInt}, {Name: "Calls", Type: reqlog.TypeInt}},
			wantRows: [][]any{{"gpt-4o", int64(720), int64(3)}, {"gpt-4o-mini", int64(15), int64(3)}},
		},
		{
			name:     "times, reals and bools decode",
			query:    "MoatGatewayLogs | where ResponseCode == 429 | project TimeGenerated, TotalTime, IsStreamCompletion, CallerId",
			wantCols: []kql.OutColumn{{Name: "TimeGenerated", Type: reqlog.TypeTime}, {Name: "TotalTime", Type: reqlog.TypeReal}, {Name: "IsStreamCompletion", Type: reqlog.TypeBool}, {Name: "CallerId", Type: reqlog.TypeString}},
			wantRows: [][]any{{testNow.Add(-20 * time.Minute), 3.0, true, "bob"}},
		},
		{
			name:       "render hint",
			query:      "MoatGatewayLogs | where ResponseCode >= 400 | summarize n = count() by bin(TimeGenerated, 1h) | render timechart",
			wantCols:   []kql.OutColumn{{Name: "TimeGenerated", Type: reqlog.TypeTime}, {Name: "n", Type: reqlog.TypeInt}},
			wantRows:   [][]any{{testNow.Truncate(time.Hour), int64(2)}},
			wantRender: "timechart",
		},
		{
			name:     "no rows is an empty list",
			query:    "MoatGatewayLogs | where CallerId == 'nobody' | project CallerId",
			wantCols: []kql.OutColumn{{Name: "CallerId", Type: reqlog.TypeString}},
			wantRows: [][]any{},
		},
	}
	for _, db := range databases(t, seed()) {
		for _, tt := range tests {
			t.Run(db.name+"/"+tt.name, func(t *testing.T) {
				res, err := logquery.Run(context.Background(), db.db, db.dialect, tt.query, testNow)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.wantCols, res.Columns); diff != "" {
					t.Errorf("columns (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantRows, res.Rows); diff != "" {
					t.Errorf("rows (-want +got):\n%s", diff)
				}
				if res.Render != tt.wantRender {
					t.Errorf("render = %q, want %q", res.Render, tt.wantRender)
				}
			})
		}
	}
}

func TestRunErrors(t *testing.T) {
	expired := func() (context.Context, context.CancelFunc) {
		return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	}
	tests := []struct {
		name     string
		query    string
		ctx      func() (context.Context, context.CancelFunc)
		postgres bool // only PostgreSQL rejects the value
		check    func(t *testing.T, err error)
	}{
		{name: "compile error has a position", query: "MoatGatewayLogs | where Nope == 1",
			check: func(t *testing.T, err error) {
				var ke *kql.Error
				if !errors.As(err, &ke) || ke.Line != 1 || ke.Col != 25 {
					t.Errorf("err = %v, want a *kql.Error at line 1, col 25", err)
				}
			}},
		{name: "deadline passed", query: "MoatGatewayLogs | count", ctx: expired,
			check: func(t *testing.T, err error) {
				var te *logquery.TimeoutError
				if !errors.As(err, &te) {
					t.Errorf("err = %v (%T), want *TimeoutError", err, err)
				}
			}},
		{name: "rejected value", query: "MoatGatewayLogs | project n = toint(CallerId)", postgres: true,
			check: func(t *testing.T, err error) {
				var de *logquery.DataError
				if !errors.As(err, &de) {
					t.Errorf("err = %v (%T), want *DataError", err, err)
				}
			}},
	}
	for _, db := range databases(t, seed()) {
		for _, tt := range tests {
			if tt.postgres && db.dialect != kql.Postgres {
				continue
			}
			t.Run(db.name+"/"+tt.name, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				if tt.ctx != nil {
					ctx, cancel = tt.ctx()
				}
				defer cancel()
				_, err := logquery.Run(ctx, db.db, db.dialect, tt.query, testNow)
				if err == nil {
					t.Fatal("no error")
				}
				tt.check(t, err)
			})
		}
	}
}

// TestPostgresReadOnly checks that the PostgreSQL statement runs in a
// read-only transaction with the statement timeout set to the time left,
// the second line of defence behind the compiler. No KQL query can write or
// read a setting, so the statements are hand-written.
func TestPostgresReadOnly(t *testing.T) {
	db := postgresDB(t, seed())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	str := []kql.OutColumn{{Name: "v", Type: reqlog.TypeString}}

	rows, err := logquery.RunPostgres(ctx, db.db, &kql.Query{SQL: "SELECT current_setting('statement_timeout')", Columns: str}, 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]any{{"1500ms"}}, rows); diff != "" {
		t.Errorf("statement_timeout (-want +got):\n%s", diff)
	}

	_, err = logquery.RunPostgres(ctx, db.db, &kql.Query{SQL: "INSERT INTO request_log (time) VALUES (now()) RETURNING request_id", Columns: str}, time.Second)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "25006" { // read_only_sql_transaction
		t.Errorf("insert in Run's transaction: err = %v, want SQLSTATE 25006", err)
	}

	// SET LOCAL ends with the transaction: the pooled session keeps its
	// own setting.
	var after string
	if err := db.db.QueryRowContext(ctx, "SHOW statement_timeout").Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after == "1500ms" {
		t.Errorf("statement_timeout leaked out of the transaction")
	}
}

func TestRunnerUsesClockAndTimeout(t *testing.T) {
	db := sqliteDB(t, seed())
	r := &logquery.Runner{DB: db.db, Dialect: db.dialect, Now: func() time.Time { return testNow.Add(-25 * time.Minute) }}
	res, err := r.Query(context.Background(), "MoatGatewayLogs | where TimeGenerated < now() | count")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]any{{int64(3)}}, res.Rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	r.Timeout = time.Nanosecond
	_, err = r.Query(context.Background(), "MoatGatewayLogs | count")
	var te *logquery.TimeoutError
	if !errors.As(err, &te) {
		t.Errorf("err = %v, want *TimeoutError", err)
	}
}
