package simulator

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/openai"
)

func TestRateLimitTokens(t *testing.T) {
	c := newClock()
	opts := testOptions(c)
	opts.Deployments = []Deployment{{Name: "small", Model: "gpt-4o-mini", TPM: 100, RPM: 10}}
	s := newServer(t, opts)
	const path = "/openai/deployments/small/chat/completions?api-version=2024-10-21"
	// 3 + 1 (user) + 2 (hello world) + 3 = 9 prompt tokens, + 60 = 69.
	const body = `{"max_tokens":60,"messages":[{"role":"user","content":"hello world"}]}`

	rec := call(s, "POST", path, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("first call: %d %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("x-ratelimit-remaining-tokens"); got != "31" {
		t.Errorf("remaining tokens = %s, want 31", got)
	}
	if got := rec.Header().Get("x-ratelimit-remaining-requests"); got != "9" {
		t.Errorf("remaining requests = %s, want 9", got)
	}

	c.advance(10 * time.Second)
	rec = call(s, "POST", path, body)
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("second call: %d %s", rec.Code, rec.Body)
	}
	want := string(openai.FrontDoorError("429", openai.RateLimitMessage("ChatCompletions_Create", "2024-10-21", "token", 50)))
	if rec.Body.String() != want {
		t.Errorf("body:\n got %s\nwant %s", rec.Body, want)
	}
	for k, v := range map[string]string{
		"retry-after":                    "50",
		"retry-after-ms":                 "50000",
		"policy-id":                      "DeploymentRatelimit-Token",
		"x-ratelimit-remaining-tokens":   "31",
		"x-ratelimit-remaining-requests": "9",
		"x-ratelimit-limit-tokens":       "100",
		"Content-Type":                   "application/json",
	} {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if rec.Header().Get("apim-request-id") == "" {
		t.Error("429 without apim-request-id")
	}

	c.advance(50 * time.Second)
	if rec = call(s, "POST", path, body); rec.Code != http.StatusOK {
		t.Fatalf("after the window: %d %s", rec.Code, rec.Body)
	}
	if st := s.Stats(); st.RateLimited != 1 || st.Succeeded != 2 || st.Requests != 3 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRateLimitCalls(t *testing.T) {
	c := newClock()
	opts := testOptions(c)
	opts.Deployments = []Deployment{{Name: "emb", Model: "text-embedding-3-small", Kind: KindEmbeddings, RPM: 2}}
	s := newServer(t, opts)
	path := "/openai/v1/embeddings"
	for i := range 2 {
		if rec := call(s, "POST", path, `{"model":"emb","input":"x"}`); rec.Code != http.StatusOK {
			t.Fatalf("call %d: %d %s", i, rec.Code, rec.Body)
		}
		c.advance(time.Second + 500*time.Millisecond)
	}
	rec := call(s, "POST", path, `{"model":"emb","input":"x"}`)
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("third call: %d", rec.Code)
	}
	// The first call's bucket (second 0) leaves the window at 60 s; now is 3 s.
	want := string(openai.FrontDoorError("429", openai.RateLimitMessage("Embeddings_Create", "v1", "call", 57)))
	if rec.Body.String() != want {
		t.Errorf("body:\n got %s\nwant %s", rec.Body, want)
	}
	for k, v := range map[string]string{"retry-after": "57", "retry-after-ms": "57000", "policy-id": "DeploymentRatelimit-Call", "x-ratelimit-remaining-requests": "0"} {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if rec.Header().Get("x-ratelimit-remaining-tokens") != "" {
		t.Error("tokens header for an unlimited TPM")
	}
}

func TestLimiter(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	type step struct {
		at      time.Duration
		cost    int
		limited string
		retry   time.Duration
		remTok  int
		remReq  int
	}
	tests := []struct {
		name     string
		tpm, rpm int
		steps    []step
	}{
		{name: "unlimited", steps: []step{{cost: 1e9, remTok: -1, remReq: -1}}},
		{name: "tokens slide out", tpm: 100, steps: []step{
			{at: 0, cost: 60, remTok: 40, remReq: -1},
			{at: 30 * time.Second, cost: 30, remTok: 10, remReq: -1},
			{at: 40 * time.Second, cost: 20, limited: "token", retry: 20 * time.Second, remTok: 10, remReq: -1},
			{at: 60 * time.Second, cost: 20, remTok: 50, remReq: -1},
		}},
		{name: "larger than the limit", tpm: 100, steps: []step{
			{cost: 101, limited: "token", retry: window, remTok: 100, remReq: -1},
		}},
		{name: "calls before tokens", tpm: 100, rpm: 1, steps: []step{
			{cost: 10, remTok: 90, remReq: 0},
			{at: 500 * time.Millisecond, cost: 1000, limited: "call", retry: 59500 * time.Millisecond, remTok: 90, remReq: 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(tt.tpm, tt.rpm)
			for i, st := range tt.steps {
				v := l.admit(t0.Add(st.at), st.cost)
				if v.limited != st.limited || v.retryAfter != st.retry || v.remainingTokens != st.remTok || v.remainingRequests != st.remReq {
					t.Errorf("step %d: got %+v, want limited %q retry %v tokens %d requests %d", i, v, st.limited, st.retry, st.remTok, st.remReq)
				}
			}
		})
	}
}

func TestFaultRates(t *testing.T) {
	const body = `{"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name       string
		faults     Faults
		wantStatus int
		wantBody   string
		check      func(t *testing.T, st Stats)
	}{
		{name: "all zero", faults: Faults{}, wantStatus: 200, check: func(t *testing.T, st Stats) {
			if st.FaultsInjected() != 0 || st.Succeeded != 5 {
				t.Errorf("stats = %+v", st)
			}
		}},
		{name: "errors", faults: Faults{ErrorRate: 1}, wantStatus: 500,
			wantBody: `{"error":{"code":"InternalServerError","message": "The server had an error while processing your request. Sorry about that!"}}`,
			check: func(t *testing.T, st Stats) {
				if st.InjectedErrors != 5 || st.Succeeded != 0 {
					t.Errorf("stats = %+v", st)
				}
			}},
		{name: "rate limits", faults: Faults{RateLimitRate: 1}, wantStatus: 429, check: func(t *testing.T, st Stats) {
			if st.InjectedRateLimits != 5 || st.RateLimited != 0 || st.Succeeded != 0 {
				t.Errorf("stats = %+v", st)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(newClock())
			opts.Faults = tt.faults
			s := newServer(t, opts)
			for range 5 {
				rec := call(s, "POST", chatPath, body)
				if rec.Code != tt.wantStatus {
					t.Fatalf("status = %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
				}
				if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
					t.Errorf("body = %s", rec.Body)
				}
				if tt.wantStatus == 429 {
					h := rec.Header()
					if h.Get("retry-after") == "" || h.Get("retry-after-ms") == "" || h.Get("policy-id") != "DeploymentRatelimit-Token" ||
						h.Get("x-ratelimit-remaining-tokens") != "0" || !strings.Contains(rec.Body.String(), "have exceeded token rate limit") {
						t.Errorf("429 headers %v body %s", h, rec.Body)
					}
				}
			}
			tt.check(t, s.Stats())
		})
	}
}

func TestFaultTimeout(t *testing.T) {
	opts := testOptions(newClock())
	opts.Faults = Faults{TimeoutRate: 1}
	s := newServer(t, opts)
	ctx, cancel := context.WithCancel(t.Context())
	req := httptest.NewRequestWithContext(ctx, "POST", chatPath, strings.NewReader(helloChat))
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ServeHTTP(rec, req)
	}()
	for s.Stats().InjectedTimeouts == 0 {
		runtime.Gosched()
	}
	select {
	case <-done:
		t.Fatal("the handler returned before the client gave up")
	default:
	}
	cancel()
	<-done
	if rec.Body.Len() != 0 || rec.Flushed {
		t.Errorf("a hung request wrote %q", rec.Body)
	}
	if st := s.Stats(); st.InjectedTimeouts != 1 || st.Canceled != 1 || st.Succeeded != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// TestFaultDropStream uses a real connection: the drop must look like a
// network failure, a truncated body with no [DONE].
func TestFaultDropStream(t *testing.T) {
	tests := []struct {
		name     string
		rate     float64
		wantDrop bool
	}{
		{name: "rate 0", rate: 0},
		{name: "rate 1", rate: 1, wantDrop: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(newClock())
			opts.Faults = Faults{DropStreamRate: tt.rate}
			s := newServer(t, opts)
			srv := httptest.NewServer(s)
			defer srv.Close()
			resp, err := srv.Client().Post(srv.URL+chatPath, "application/json", strings.NewReader(withStream(helloChat, true)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if tt.wantDrop {
				if err == nil {
					t.Error("a dropped stream ended cleanly")
				}
				if !strings.HasPrefix(string(body), firstChunk) {
					t.Errorf("dropped stream did not start like Azure: %q", body)
				}
			} else if err != nil {
				t.Fatalf("read: %v", err)
			}
			if got := strings.Contains(string(body), "data: [DONE]"); got == tt.wantDrop {
				t.Errorf("[DONE] present = %v", got)
			}
			wantDrops := int64(0)
			if tt.wantDrop {
				wantDrops = 1
			}
			if st := s.Stats(); st.InjectedDrops != wantDrops {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func TestBodyReadFailure(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	req := httptest.NewRequest("POST", chatPath, io.NopCloser(errReader{}))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Body.Len() != 0 {
		t.Errorf("wrote %q to a client that hung up", rec.Body)
	}
	if st := s.Stats(); st.Canceled != 1 {
		t.Errorf("stats = %+v", st)
	}
}
