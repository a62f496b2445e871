package keyoutage

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/proctest"
)

// TestHangingIssuerAnswersEveryCaller is issue 17's token-validation convoy
// against a real moat process: with an issuer whose every request hangs and
// no signing keys cached, 8 concurrent token calls all get Azure's 401 once
// the shared fetch's own deadline (1 s here) passes, instead of queueing
// behind one another's fetches (before: 19, 29 … 89 s). The client gives
// each call 15 s; a call still waiting then counts as failed.
func TestHangingIssuerAnswersEveryCaller(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	requests := 0
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer idp.Close()
	defer close(release)

	data, mgmt := proctest.FreeAddr(t), proctest.FreeAddr(t)
	proctest.StartMoat(t, proctest.MoatConfig{Mgmt: mgmt, YAML: fmt.Sprintf(`listeners: [{name: pe, address: %q, kind: private_endpoint}]
management: {listeners: [{name: mgmt, address: %q, kind: private_endpoint}]}
auth:
  issuers: [{name: hang, issuer: %q}]
  key_fetch_timeout: 1s
upstreams: [{name: sim, type: simulator}]
deployments: [{name: gpt-4o-mini, upstreams: [{upstream: sim}]}]
`, data, mgmt, idp.URL)})

	b64 := base64.RawURLEncoding.EncodeToString
	token := b64([]byte(`{"alg":"RS256","typ":"JWT","kid":"k1"}`)) + "." +
		b64([]byte(fmt.Sprintf(`{"iss":%q,"aud":"https://cognitiveservices.azure.com","exp":%d,"oid":"x"}`, idp.URL, time.Now().Add(time.Hour).Unix()))) +
		"." + b64([]byte("not-a-signature"))
	c := &http.Client{Timeout: 15 * time.Second}
	const callers = 8
	type result struct {
		status int
		took   time.Duration
		err    error
	}
	results := make([]result, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, "http://"+data+"/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
				strings.NewReader(`{"messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("content-type", "application/json")
			start := time.Now()
			resp, err := c.Do(req)
			results[i] = result{took: time.Since(start), err: err}
			if err == nil {
				results[i].status = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	for i, r := range results {
		t.Logf("caller %d: status %d after %s (err %v)", i, r.status, r.took.Round(time.Millisecond), r.err)
		if r.err != nil || r.status != http.StatusUnauthorized {
			t.Errorf("caller %d: status %d, err %v; want Azure's 401", i, r.status, r.err)
		}
	}
	mu.Lock()
	t.Logf("the issuer received %d requests", requests)
	mu.Unlock()
}
