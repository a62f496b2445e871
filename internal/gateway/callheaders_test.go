package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestCallHeadersLogged: a call's allow-listed headers reach the request
// log's Headers column as the client sent and received them, and the
// credentials it came with never do, whether the call was let in or
// refused.
func TestCallHeadersLogged(t *testing.T) {
	const wrong = "secret-not-a-key-0123456789abcdef"
	ts := startServer(t, fmt.Sprintf("upstreams: [{name: sim, type: simulator}]\n"+
		"deployments:\n  - {name: gpt-4o, upstreams: [{upstream: sim}]}\n"+
		"auth: {keys: [{name: k, key: %s}]}\n", key1))
	url := ts.url + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
	if status, _, body := do(t, "POST", url, chatBody, "api-key", key1, "User-Agent", "headers-test/1"); status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	for _, hdr := range [][]string{{"Authorization", "Bearer " + key1}, {"Authorization", "Bearer " + wrong}, {"api-key", wrong}} {
		if status, _, _ := do(t, "POST", url, chatBody, hdr...); status != 401 {
			t.Fatalf("%s: status %d, want 401", hdr[0], status)
		}
	}
	recs := ts.records()
	if len(recs) == 0 {
		t.Fatal("no records")
	}
	ok := false
	for _, r := range recs {
		for _, s := range []string{key1, wrong, "api-key", "authorization"} {
			if strings.Contains(strings.ToLower(r.Headers), strings.ToLower(s)) {
				t.Errorf("%s (status %d) logged %q: %s", r.RequestID, r.Status, s, r.Headers)
			}
		}
		if r.Status != 200 {
			continue
		}
		var col map[string]map[string]string
		if err := json.Unmarshal([]byte(r.Headers), &col); err != nil {
			t.Fatalf("Headers %q: %v", r.Headers, err)
		}
		if col["req"]["user-agent"] != "headers-test/1" || col["req"]["content-type"] != "application/json" ||
			col["resp"]["apim-request-id"] != r.RequestID || col["resp"]["x-ms-region"] == "" {
			t.Errorf("Headers of the call: %s", r.Headers)
		}
		ok = true
	}
	if !ok {
		t.Errorf("no 200 record in %d", len(recs))
	}
}
