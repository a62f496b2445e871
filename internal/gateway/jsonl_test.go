package gateway

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONLinesCopy checks that log.jsonl writes each call as one JSON
// line with the KQL column names, as a SIEM would read it, and that
// /status reports the build and the reloads.
func TestJSONLinesCopy(t *testing.T) {
	out := filepath.Join(t.TempDir(), "calls.jsonl")
	ts := startServer(t, "log: {jsonl: {path: "+out+"}}\n")
	for range 2 {
		if code, _, body := do(t, "POST", ts.url+"/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", chatBody); code != 200 {
			t.Fatalf("call: %d %s", code, body)
		}
	}
	_, _, status := do(t, "GET", ts.mgmtURL+"/status", "")
	var st struct {
		Build   BuildInfo    `json:"build"`
		Reloads ReloadStatus `json:"reloads"`
	}
	if err := json.Unmarshal([]byte(status), &st); err != nil {
		t.Fatal(err)
	}
	if st.Build.Version != "test" || !strings.HasPrefix(st.Build.GoVersion, "go") || st.Reloads.LastSuccess.IsZero() {
		t.Errorf("status build/reloads: %s", status)
	}
	ts.stop() // flushes the copy
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), b)
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line is not JSON: %v\n%s", err, l)
		}
		if rec["DeploymentName"] != "gpt-4o-mini" || rec["ResponseCode"] != float64(200) || rec["CorrelationId"] == "" ||
			!strings.HasSuffix(rec["TimeGenerated"].(string), "Z") {
			t.Errorf("record %s", l)
		}
	}
}
