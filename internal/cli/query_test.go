package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/cli"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

// seededConfig writes a SQLite request log with three calls and a config
// file that names it, and returns the config's path.
func seededConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "log.db")
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	recs := []reqlog.Record{
		{Time: at, Caller: "alice", Deployment: "gpt-4o", Status: 200, TotalTokens: 120, TotalMs: 12.5},
		{Time: at.Add(time.Minute), Caller: "bob", Deployment: "gpt-4o", Status: 429, ErrorKind: "upstream_rate_limit", TotalMs: 2},
		{Time: at.Add(2 * time.Minute), Caller: "alice", Deployment: "gpt-4o-mini", Status: 200, TotalTokens: 30, TotalMs: 7.25},
	}
	if err := s.WriteBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "moat.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+dir+"\nlog:\n  sqlite_path: "+db+"\n"+simulated), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestLogsQuery(t *testing.T) {
	cfg := seededConfig(t)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string // substring
	}{
		{
			name: "table",
			args: []string{"logs", "query", "--config", cfg,
				"MoatGatewayLogs | summarize Tokens = sum(TotalTokens), Calls = count() by CallerId | order by CallerId asc"},
			wantStdout: "CallerId  Tokens  Calls\nalice     150     2\nbob       0       1\n",
		},
		{
			name: "flags after the query",
			args: []string{"logs", "query", "MoatGatewayLogs | where ResponseCode == 429 | project TimeGenerated, CallerId, TotalTime",
				"--config", cfg, "--format", "csv"},
			wantStdout: "TimeGenerated,CallerId,TotalTime\r\n2026-03-14T12:01:00Z,bob,2\r\n",
		},
		{
			name:       "json",
			args:       []string{"logs", "query", "--config", cfg, "--format", "json", "MoatGatewayLogs | count"},
			wantStdout: `{"columns":[{"name":"Count","type":"long"}],"rows":[[3]],"render":"","rollup":false,"elapsed_ms":`,
		},
		{
			name:       "compile error points at the column",
			args:       []string{"logs", "query", "--config", cfg, "MoatGatewayLogs\n| where Nope > 1"},
			wantCode:   1,
			wantStderr: "moat: line 2, col 9: unknown column \"Nope\"\n  | where Nope > 1\n          ^\n",
		},
		{
			name:       "timeout",
			args:       []string{"logs", "query", "--config", cfg, "--timeout", "1ns", "MoatGatewayLogs | count"},
			wantCode:   1,
			wantStderr: "did not finish within",
		},
		{
			name:       "no query",
			args:       []string{"logs", "query", "--config", cfg},
			wantCode:   2,
			wantStderr: "usage: moat logs query",
		},
		{
			name:       "unknown format",
			args:       []string{"logs", "query", "--format", "xml", "MoatGatewayLogs | count"},
			wantCode:   2,
			wantStderr: "usage: moat logs query",
		},
		{
			name:       "no store",
			args:       []string{"logs", "query", "--config", writeConfig(t, "data_dir: "+t.TempDir()+"\n"+simulated), "MoatGatewayLogs | count"},
			wantCode:   1,
			wantStderr: "no request log at",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli.Main(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit code = %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if tt.wantStdout != "" && !strings.HasPrefix(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout:\n%s", cmp.Diff(tt.wantStdout, stdout.String()))
			}
			if tt.wantStderr != "" && !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "moat.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLogsQueryContent: prompt text is hidden unless --content is given,
// and a query that reads it is written to the audit log.
func TestLogsQueryContent(t *testing.T) {
	cfg := seededConfig(t)
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := cli.Main(context.Background(), append([]string{"logs", "query", "--config", cfg}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	if code, _, stderr := run("MoatGatewayLogs | project RequestMessages"); code != 1 || !strings.Contains(stderr, "Moat/logs/content/read") {
		t.Fatalf("content read without --content: %d %s", code, stderr)
	}
	if code, stdout, stderr := run("-o", "csv", "MoatGatewayLogs | take 1"); code != 0 || strings.Contains(stdout, "RequestMessages") {
		t.Fatalf("whole rows without --content: %d %s %s", code, stdout, stderr)
	}
	if code, _, stderr := run("--content", "MoatGatewayLogs | project RequestMessages"); code != 0 {
		t.Fatalf("--content: %d %s", code, stderr)
	}
	if code, _, stderr := run("--content", "MoatGatewayLogs | count"); code != 0 {
		t.Fatalf("--content without content: %d %s", code, stderr)
	}
	var stdout, stderr bytes.Buffer
	if code := cli.Main(context.Background(), []string{"audit", "list", "--config", cfg}, &stdout, &stderr); code != 0 {
		t.Fatalf("audit: %d %s", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "logs.content.read"); n != 1 {
		t.Errorf("%d content reads audited, want 1:\n%s", n, stdout.String())
	}
}
