package gateway

import (
	"sync"
	"testing"
)

// TestReservationNotTalkedDown replays issue 17's attack: a case variant of
// max_tokens that Go's case-insensitive decoding would read as the last
// member (1 token reserved) while the upstream bills the exact one (600).
// Every variant is refused with the OpenAI 400 before any reservation, so
// nothing reaches the upstream.
func TestReservationNotTalkedDown(t *testing.T) {
	up := newFakeUpstream(t, false)
	ts := startServer(t, upstreamConfig(up.URL, "")+`
rate_limits:
  rules: [{name: per-deployment, scope: deployment, tpm: 1000}]
`)
	url := ts.url + "/v1/chat/completions"
	attacks := []struct{ body, want string }{
		{`{"model":"chat","max_tokens":600,"MAX_TOKENS":1,"messages":[{"role":"user","content":"hi"}]}`,
			`{"error":{"message":"'MAX_TOKENS' differs from the field 'max_tokens' only by case; send 'max_tokens' exactly once","type":"invalid_request_error","param":"max_tokens","code":null}}`},
		{`{"model":"chat","max_completion_tokens":600,"max_completion_tokens":1,"messages":[]}`,
			`{"error":{"message":"'max_completion_tokens' appears more than once; send it exactly once","type":"invalid_request_error","param":"max_completion_tokens","code":null}}`},
		{`{"model":"chat","n":1,"N":8,"max_tokens":100,"messages":[]}`,
			`{"error":{"message":"'N' differs from the field 'n' only by case; send 'n' exactly once","type":"invalid_request_error","param":"n","code":null}}`},
	}
	var wg sync.WaitGroup
	for range 4 { // the four concurrent calls
		for _, a := range attacks {
			wg.Go(func() {
				status, _, body := do(t, "POST", url, a.body, "api-key", "k")
				if status != 400 || body != a.want {
					t.Errorf("%s: %d %s", a.body, status, body)
				}
			})
		}
	}
	wg.Wait()
	up.mu.Lock()
	reached := len(up.bodies)
	up.mu.Unlock()
	if reached != 0 {
		t.Fatalf("%d ambiguous bodies reached the upstream", reached)
	}
	for _, r := range ts.records() {
		if r.Status != 400 || r.ErrorKind != "client_bad_request" || r.Attempts != 0 {
			t.Errorf("record: %+v", r)
		}
	}
}
