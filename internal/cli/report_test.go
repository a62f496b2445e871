package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

// TestReportUsage: moat report usage sums calls, tokens and cost per team
// and model over the range, states the price versions and leaves out calls
// outside the range or refused before an upstream.
func TestReportUsage(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "moat.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+dir+"\nauth: {disabled: true}\n"+simulatedConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "moat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	nov := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	rec := func(id, team, model string, at time.Time, tokens int, cost float64, attempts int) reqlog.Record {
		upstream := 0
		if attempts > 0 {
			upstream = 200
		}
		return reqlog.Record{UpstreamStatus: upstream, Time: at, RequestID: id, Team: team, Model: model, Deployment: model, Status: 200,
			PromptTokens: tokens / 2, CompletionTokens: tokens / 2, TotalTokens: tokens, Cost: cost,
			PriceVersion: "2025-08-list", Attempts: attempts}
	}
	recs := []reqlog.Record{
		rec("a", "search", "gpt-4o", nov, 100, 0.5, 1),
		rec("b", "search", "gpt-4o", nov.Add(time.Hour), 300, 1.5, 1),
		rec("c", "search", "gpt-4o-mini", nov, 1000, 0.25, 1),
		rec("d", "ads", "gpt-4o", nov, 10, 0.125, 1),
		rec("e", "ads", "gpt-4o", nov.AddDate(0, 1, 0), 10, 99, 1), // December: outside
		rec("f", "ads", "gpt-4o", nov, 0, 0, 0),                    // refused: no upstream
	}
	if err := st.WriteBatch(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	st.Close()
	run := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args = append([]string{"report", "usage", "--config", cfg, "--from", "2026-11", "--to", "2026-12-01"}, args...)
		if code := Main(context.Background(), args, &stdout, &stderr); code != 0 {
			t.Fatalf("moat %s: %d %s", strings.Join(args, " "), code, stderr.String())
		}
		return stdout.String()
	}
	table := run("--by", "team,model")
	for _, want := range []string{"Cost in USD at price version 2025-08-list", "search", "gpt-4o-mini", "Total cost: 2.3750 USD"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	var got struct {
		Currency      string           `json:"currency"`
		PriceVersions []string         `json:"price_versions"`
		TotalCost     float64          `json:"total_cost"`
		Rows          []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(run("--by", "team", "-o", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Currency != "USD" || got.TotalCost != 2.375 || len(got.Rows) != 2 || got.Rows[0]["Team"] != "search" ||
		got.Rows[0]["Calls"] != float64(3) || got.Rows[0]["TotalTokens"] != float64(1400) || got.Rows[1]["Calls"] != float64(1) {
		t.Errorf("json report %+v", got)
	}
	csv := run("--by", "deployment", "-o", "csv")
	if !strings.HasPrefix(csv, "DeploymentName,PriceVersion,Calls") || !strings.Contains(csv, "gpt-4o,2025-08-list,3,") {
		t.Errorf("csv:\n%s", csv)
	}
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"report", "usage", "--config", cfg, "--by", "owner"}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "unknown dimension") {
		t.Errorf("bad dimension: %d %s", code, stderr.String())
	}
}
