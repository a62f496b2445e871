package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

// TestLogsTail: moat logs tail shows the newest calls, oldest first, with
// estimated token counts marked, and says clearly when there is no log.
func TestLogsTail(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "moat.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+dir+"\nauth: {disabled: true}\n"+simulatedConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"logs", "tail", "--config", cfg}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "no request log") {
		t.Fatalf("without a log: %d %s", code, stderr.String())
	}
	st, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "moat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var recs []reqlog.Record
	for i := range 30 {
		recs = append(recs, reqlog.Record{Time: base.Add(time.Duration(i) * time.Second), RequestID: "req-" + string(rune('a'+i%26)) + "-" + strconv.Itoa(i),
			Deployment: "gpt-4o-mini", Operation: "ChatCompletions_Create", Status: 200, PromptTokens: 7, CompletionTokens: i,
			TokensEstimated: i == 29, ClientIP: "10.0.0.4", Caller: "app", Replica: "moat-eu-1",
			KeyName: "ranker", Team: "search"})
	}
	if err := st.WriteBatch(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	st.Close()
	stdout.Reset()
	if code := Main(context.Background(), []string{"logs", "tail", "--config", cfg, "-n", "3"}, &stdout, &stderr); code != 0 {
		t.Fatalf("tail: %d %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("output:\n%s", stdout.String())
	}
	if !strings.Contains(lines[0], "REPLICA") || !strings.Contains(lines[1], "moat-eu-1") ||
		!strings.Contains(lines[0], "KEY") || !strings.Contains(lines[1], "ranker") || !strings.Contains(lines[1], "search") {
		t.Fatalf("want the replica column:\n%s", stdout.String())
	}
	if !strings.Contains(lines[1], "req-b-27") || !strings.Contains(lines[3], "req-d-29") || !strings.Contains(lines[3], "7/29~") {
		t.Fatalf("want the 3 newest, oldest first, estimate marked:\n%s", stdout.String())
	}
	stdout.Reset()
	if code := Main(context.Background(), []string{"logs", "tail", "--config", cfg, "-n", "2", "-o", "json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("tail -o json: %d %s", code, stderr.String())
	}
	lines = strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"CorrelationId":"req-d-29"`) || !strings.Contains(lines[1], `"TimeGenerated":"2026-11-22T10:00:29Z"`) {
		t.Fatalf("tail -o json, one object per line:\n%s", stdout.String())
	}
}

// simulatedConfig is the smallest set of deployments a config file may have.
const simulatedConfig = "upstreams: [{name: sim, type: simulator}]\ndeployments: [{name: d, upstreams: [{upstream: sim}]}]\n"
