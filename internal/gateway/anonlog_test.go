package gateway

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/dataplane"
	"github.com/moat-gw/moat/internal/reqlog"
)

// recordStringBytes is what a record's strings cost in the log.
func recordStringBytes(r reqlog.Record) int {
	return len(r.RequestID) + len(r.Caller) + len(r.AuthType) + len(r.ClientIP) + len(r.Listener) + len(r.Deployment) +
		len(r.Model) + len(r.Upstream) + len(r.Operation) + len(r.APIVersion) + len(r.Method) + len(r.Path) +
		len(r.ErrorKind) + len(r.ErrorMessage) + len(r.Region) + len(r.Replica) + len(r.RequestBody) + len(r.ResponseBody)
}

// TestAnonymousLogBounded replays issue 17's log flood: anonymous calls
// with a ~1 MB path, refused by the network rules or by authentication.
// Each logged row stays within the documented field bounds, at most
// dataplane.AnonymousLogPerSecond rows per listener, kind and second are written, the
// next written row says how many it stands for, and the metrics count
// every call exactly.
func TestAnonymousLogBounded(t *testing.T) {
	tests := []struct {
		name, cfg, kind string
		status          int
	}{
		{"network denial", "network: {public_network_access: disabled}\n", "policy_network", 403},
		{"no credentials", fmt.Sprintf("auth: {keys: [{name: k, key: %s}]}\n", key1), "client_auth", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			ts := startServerOpts(t, tt.cfg, Options{Now: clk.Now})
			path := "/openai/deployments/" + strings.Repeat("a", 1_000_000) + "/chat/completions"
			const calls = 3 * dataplane.AnonymousLogPerSecond
			for range calls {
				if status, _, _ := do(t, "POST", ts.url+path+"?api-version=2024-10-21", chatBody); status != tt.status {
					t.Fatalf("status %d, want %d", status, tt.status)
				}
			}
			clk.Add(time.Second) // a new second: one more row, standing for the ones left out
			do(t, "GET", ts.url+path, "")
			requests := ts.metricValue("moat_requests_total", "deployment", "", "operation", "", "status", fmt.Sprint(tt.status), "error_kind", tt.kind)
			sampled := ts.metricValue("moat_log_records_sampled_out_total", "listener", "data", "error_kind", tt.kind)
			recs := ts.records()
			if requests != calls+1 || sampled != calls-dataplane.AnonymousLogPerSecond || len(recs) != dataplane.AnonymousLogPerSecond+1 {
				t.Fatalf("counted %v calls, %v sampled out, %d rows; want %d, %d, %d",
					requests, sampled, len(recs), calls+1, calls-dataplane.AnonymousLogPerSecond, dataplane.AnonymousLogPerSecond+1)
			}
			total := 0
			for _, r := range recs {
				n := recordStringBytes(r)
				total += n
				if n > reqlog.MaxPathBytes+reqlog.MaxErrorMessageBytes+14*reqlog.MaxShortFieldBytes {
					t.Errorf("row of %d bytes of strings", n)
				}
				if len(r.Path) > reqlog.MaxPathBytes || !strings.Contains(r.Path, "…[truncated ") || r.ErrorKind != tt.kind {
					t.Errorf("path %d bytes %.60q, kind %s", len(r.Path), r.Path, r.ErrorKind)
				}
			}
			last := recs[len(recs)-1]
			if want := fmt.Sprintf("%d similar calls not logged before this one (sampled)", calls-dataplane.AnonymousLogPerSecond); !strings.Contains(last.ErrorMessage, want) {
				t.Errorf("last row's message %q lacks %q", last.ErrorMessage, want)
			}
			t.Logf("%d calls of %d-byte paths: %d rows, %d bytes of strings, %d log bytes per anonymous call",
				calls+1, len(path), len(recs), total, total/(calls+1))
		})
	}
}
