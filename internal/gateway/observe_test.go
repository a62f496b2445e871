package gateway

import (
	"strings"
	"testing"
)

// TestQueryAPIAndDashboard: the management plane serves KQL over the request
// log and the dashboard, both behind Moat/logs/read.
func TestQueryAPIAndDashboard(t *testing.T) {
	ts := startServer(t, adminConfig())
	url := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
	for range 3 {
		if status, _, body := do(t, "POST", url, chatBody, "api-key", adminKey); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
	}
	q := `{"query":"MoatGatewayLogs | summarize calls = count(), tokens = sum(TotalTokens) by DeploymentName"}`
	if status, _, _ := do(t, "POST", ts.mgmtURL+"/api/query", q); status != 401 {
		t.Fatalf("anonymous query: %d", status)
	}
	var body string
	for deadline := 0; deadline < 200; deadline++ { // the log writer flushes every 200ms
		var status int
		status, _, body = do(t, "POST", ts.mgmtURL+"/api/query", q, "api-key", adminKey)
		if status != 200 {
			t.Fatalf("query: %d %s", status, body)
		}
		if strings.Contains(body, `"gpt-4o-mini",3,`) {
			break
		}
		sleepMs(20)
	}
	if !strings.Contains(body, `"gpt-4o-mini",3,`) {
		t.Fatalf("query result %s", body)
	}
	// With no time bound, the daily rollup the log writer keeps answers.
	if !strings.Contains(body, `"rollup":true`) {
		t.Fatalf("query did not use the rollup: %s", body)
	}
	status, h, page := do(t, "GET", ts.mgmtURL+"/dashboard/", "")
	if status != 200 || !strings.Contains(page, "<html") || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("dashboard: %d %v", status, h)
	}
}
