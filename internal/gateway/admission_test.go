package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/tokens"
)

// TestBoundAdmitsAsExactCounting: admission reserves a prompt's byte bound
// (here six times its exact count) and counts exactly only near the
// limit, yet with many concurrent calls in flight at a TPM limit it admits
// exactly the calls that exact counting admits: a call refused on its
// bound counts its prompt and tightens the calls in flight that still
// hold a bound before it is refused. Every call is held at the upstream
// until all have been admitted or refused, so the reservations of the
// admitted ones are all in flight together.
func TestBoundAdmitsAsExactCounting(t *testing.T) {
	const clients, want, maxTokens = 60, 40, 10
	var arrived atomic.Int32
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		<-release
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8}}`)
	}))
	t.Cleanup(up.Close)
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	content, _ := json.Marshal(strings.Repeat("hello world ", 100))
	body := `{"model":"chat","max_tokens":` + fmt.Sprint(maxTokens) + `,"messages":[{"role":"user","content":` + string(content) + `}]}`
	r, err := openai.ParseRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	exact := tokens.New().Prompt("gpt-4o-mini", r) + maxTokens
	bound := tokens.PromptBound(r) + maxTokens
	if bound < 5*exact {
		t.Fatalf("bound %d, exact %d: the test needs a loose bound", bound, exact)
	}
	// Room for want calls counted exactly, not for one more; on bounds
	// alone it would admit fewer than a third of them.
	tpm := want*exact + exact/2
	ts := startServerOpts(t, upstreamConfig(up.URL, "")+fmt.Sprintf(`
rate_limits:
  rules: [{name: per-deployment, scope: deployment, tpm: %d}]
`, tpm), Options{Now: newClock().Now})

	var refused atomic.Int32
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := httpRequest("POST", ts.url+"/v1/chat/completions", body)
			resp, err := ts.client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode == 429 {
				refused.Add(1)
			} else if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	waitFor(t, func() bool { return int(arrived.Load()+refused.Load()) == clients })
	if got := int(arrived.Load()); got != want {
		t.Errorf("%d of %d calls admitted at a limit that fits %d counted exactly (bound %d, exact %d tokens each)", got, clients, want, bound, exact)
	}
	close(release)
	wg.Wait()
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
	}
}
