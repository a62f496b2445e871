package report

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/kql"
	"github.com/moat-gw/moat/internal/logquery"
)

func TestQuery(t *testing.T) {
	from, to := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		by      []string
		want    string
		wantErr string
	}{
		{by: []string{"team", "model"}, want: "by Team, ModelName, PriceVersion"},
		{by: []string{"key"}, want: "by CallerId, KeyName, Team, PriceVersion"},
		{by: []string{"deployment"}, want: "by DeploymentName, PriceVersion"},
		{by: []string{"owner"}, wantErr: "unknown dimension"},
		{by: nil, wantErr: "at least one"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.by, ","), func(t *testing.T) {
			q, err := Request{From: from, To: to, By: tt.by}.Query()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(q, tt.want) || !strings.Contains(q, "datetime(2026-11-01T00:00:00Z)") {
				t.Fatalf("%v\n%s", err, q)
			}
			c, err := kql.CompileOptions(q, kql.SQLite, to.Add(time.Hour), kql.Options{Rollup: true})
			if err != nil {
				t.Fatalf("query does not compile: %v", err)
			}
			if !strings.Contains(c.SQL, "request_log_rollup") {
				t.Errorf("a month's report does not read the rollup:\n%s", c.SQL)
			}
		})
	}
	if _, err := (Request{From: to, To: from, By: []string{"team"}}).Query(); err == nil {
		t.Error("inverted range accepted")
	}
}

func TestRunSums(t *testing.T) {
	res := &logquery.Result{Columns: []kql.OutColumn{{Name: "Team"}, {Name: "PriceVersion"}, {Name: "Cost"}},
		Rows: [][]any{{"a", "v2", 1.5}, {"b", "v1", 2.0}, {"c", "v2", nil}}}
	rep, err := Run(context.Background(), func(context.Context, string) (*logquery.Result, error) { return res, nil },
		Request{From: time.Unix(0, 0), To: time.Unix(10, 0), By: []string{"team"}}, "USD")
	if err != nil {
		t.Fatal(err)
	}
	if rep.TotalCost != 3.5 || strings.Join(rep.PriceVersions, ",") != "v1,v2" {
		t.Errorf("total %v versions %v", rep.TotalCost, rep.PriceVersions)
	}
}

func TestParseTime(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	for in, want := range map[string]time.Time{
		"2026-11-05":           time.Date(2026, 11, 5, 0, 0, 0, 0, tokyo),
		"2026-11":              time.Date(2026, 11, 1, 0, 0, 0, 0, tokyo),
		"2026-11-05T10:00:00Z": time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC),
	} {
		if got, err := ParseTime(in, tokyo); err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseTime("last month", nil); err == nil {
		t.Error("garbage accepted")
	}
}
