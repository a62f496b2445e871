package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/proctest"
)

// TestReservationBlocksOvershoot: a call in flight holds its estimate, so a
// second call that would overshoot is refused at admission with Azure's 429;
// once the first settles on its real usage, capacity comes back.
func TestReservationBlocksOvershoot(t *testing.T) {
	up := newFakeUpstream(t, true)
	clk := newClock()
	ts := startServerOpts(t, upstreamConfig(up.URL, "")+`
rate_limits:
  rules: [{name: per-deployment, scope: deployment, tpm: 1000}]
`, Options{Now: clk.Now})
	url := ts.url + "/v1/chat/completions"
	big := `{"model":"chat","stream":true,"max_tokens":600,"messages":[{"role":"user","content":"hi"}]}`

	go func() { up.step <- struct{}{} }()
	resp := post(t, context.Background(), url, big) // reserves ~610 of 1000
	if resp.StatusCode != 200 || resp.Header.Get("X-Ratelimit-Remaining-Tokens") == "" {
		t.Fatalf("first call: %d %v", resp.StatusCode, resp.Header)
	}
	status, h, body := do(t, "POST", url, `{"model":"chat","max_tokens":600,"messages":[{"role":"user","content":"hi"}]}`, "api-key", "k")
	want := `{"error":{"code":"429","message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version v1 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 60 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."}}`
	if status != 429 || body != want || h.Get("Retry-After") != "60" || h.Get("Retry-After-Ms") == "" || h.Get("Policy-Id") != "DeploymentRatelimit-Token" {
		t.Fatalf("overshooting call: %d %v %s", status, h, body)
	}
	for range 7 { // release the rest of the stream: 5 words, finish, usage, [DONE]
		up.step <- struct{}{}
	}
	if _, err := bufio.NewReader(resp.Body).WriteTo(new(strings.Builder)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// Settlement runs as the first call's handler returns, just after its
	// body; the test clock never moves, so only settlement can free capacity.
	go func() {
		for range 8 {
			up.step <- struct{}{}
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		status, _, body := do(t, "POST", url, big, "api-key", "k")
		if status == 200 {
			break
		}
		if status != 429 || time.Now().After(deadline) {
			t.Fatalf("after settling, capacity should be back: %d %s", status, body)
		}
	}
	denied := 0
	for _, r := range ts.records() {
		if r.Status == 429 {
			denied++
			if r.ErrorKind != "policy_rate_limit" || r.Attempts != 0 {
				t.Fatalf("denied call reached the upstream or was not logged: %+v", r)
			}
		}
	}
	if denied < 1 {
		t.Fatalf("%d denials logged", denied)
	}
}

// TestQuotaExceeded: a daily quota answers APIM's 403.
func TestQuotaExceeded(t *testing.T) {
	clk := newClock()
	ts := startServerOpts(t, `rate_limits: {rules: [{name: q, scope: deployment, quota: 100, quota_period: day}]}`, Options{Now: clk.Now})
	url := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
	body := `{"messages":[{"role":"user","content":"hi"}],"max_tokens":30}`
	var last string
	var status int
	for range 10 {
		status, _, last = do(t, "POST", url, body, "api-key", "k")
		if status != 200 {
			break
		}
	}
	if status != 403 || !regexp.MustCompile(`^\{"statusCode": 403, "message": "Token quota is exceeded. Try again in \d+ minutes and \d+ seconds."\}$`).MatchString(last) {
		t.Fatalf("%d %s", status, last)
	}
}

// redisAddr returns the test Redis, failing in CI when it is missing.
func redisAddr(t *testing.T) string {
	addr := os.Getenv("MOAT_TEST_REDIS")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis at %s: %v", addr, err)
		}
		t.Skipf("redis at %s: %v", addr, err)
	}
	c.Close()
	return addr
}

// TestRedisAccuracyAcrossReplicas: three moat servers share one Redis; in
// each round 200 concurrent clients spread over them call at once, far more
// than the limit allows, and the test clock moves 3 s between rounds, for
// three minutes. The tokens admitted in each minute stay within 1% of the
// limit and never above it. (Rounds keep arrival and admission in the same
// second, so the log attributes every call to the window that charged it.)
func TestRedisAccuracyAcrossReplicas(t *testing.T) {
	addr := redisAddr(t)
	const limit, clients, rounds, step = 20000, 200, 60, 3 * time.Second
	prefix := fmt.Sprintf("moat:test:%d:", time.Now().UnixNano())
	clk := newClock()
	start := clk.Now()
	cfg := fmt.Sprintf(`
rate_limits:
  redis: {address: '%s', key_prefix: '%s'}
  rules: [{name: tpm, scope: deployment, tpm: %d}]
`, addr, prefix, limit)
	var servers []*testServer
	for range 3 {
		servers = append(servers, startServerOpts(t, cfg, Options{Now: clk.Now}))
	}
	// max_tokens below the simulator's shortest answer: the completion is
	// exactly max_tokens, so every estimate equals its real usage.
	body := `{"messages":[{"role":"user","content":"count"}],"max_tokens":15}`
	for range rounds {
		var wg sync.WaitGroup
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ts := servers[c%3]
				req, _ := httpRequest("POST", ts.url+"/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", body)
				if resp, err := ts.client().Do(req); err == nil {
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		clk.Add(step)
	}
	perMinute := map[int]int{}
	calls, admitted := 0, 0
	for _, ts := range servers {
		for _, r := range ts.records() {
			calls++
			if r.Status == 200 {
				admitted++
				perMinute[int(r.Time.Sub(start)/time.Minute)] += r.TotalTokens
			}
		}
	}
	t.Logf("%d calls, %d admitted; tokens per minute %v (limit %d)", calls, admitted, perMinute, limit)
	// Never over the limit. Under it by at most 3%: a replica reserves on a
	// prompt's byte bound and tightens only its own calls in flight, so at
	// the limit's edge another replica's bounds can refuse a call a little
	// early until they settle (docs/limits.md; 98.9% seen in a race build,
	// and once 97.75% in the first minute of a race build run beside the
	// rest of the package, with reserves and settles sharing round trips).
	for m := range 3 {
		got := perMinute[m]
		if got > limit || float64(got) < 0.97*limit {
			t.Errorf("minute %d: %d tokens admitted, want at most %d and within 3%% of it", m, got, limit)
		}
	}
}

// TestRedisDownModes: Redis dies mid-run; a fail_closed limit refuses calls
// with 503 and a local_share limit keeps admitting within its share; when
// Redis comes back, shared counting resumes.
func TestRedisDownModes(t *testing.T) {
	redisServer, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not installed")
		}
		t.Skip("redis-server not installed")
	}
	port := freePort(t)
	startRedis := func() *exec.Cmd {
		cmd := exec.Command(redisServer, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for range 100 {
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				c.Close()
				return cmd
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("redis did not start")
		return nil
	}
	tests := []struct {
		mode       string
		whenDown   int
		downBodyRE string
	}{
		{"fail_closed", 503, `"code":"503"`},
		{"local_share", 200, `"choices"`},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			rs := startRedis()
			defer func() { _ = rs.Process.Kill(); _ = rs.Wait() }()
			clk := newClock()
			ts := startServerOpts(t, fmt.Sprintf(`
rate_limits:
  redis: {address: '127.0.0.1:%d'}
  rules: [{name: r, scope: deployment, tpm: 100000, on_redis_down: %s, local_share: 0.5}]
`, port, tt.mode), Options{Now: clk.Now})
			url := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
			if status, _, body := do(t, "POST", url, chatBody, "api-key", "k"); status != 200 {
				t.Fatalf("redis up: %d %s", status, body)
			}
			_ = rs.Process.Kill()
			_ = rs.Wait()
			status, _, body := do(t, "POST", url, chatBody, "api-key", "k")
			if status != tt.whenDown || !strings.Contains(body, strings.Trim(tt.downBodyRE, "`")) {
				t.Fatalf("redis down: %d %s", status, body)
			}
			_, _, metrics := do(t, "GET", ts.mgmtURL+"/metrics", "")
			if !strings.Contains(metrics, "moat_ratelimit_store_down 1") {
				t.Fatalf("store down not visible:\n%s", grep(metrics, "ratelimit"))
			}
			rs = startRedis()
			clk.Add(2 * time.Second) // past the limiter's retry interval
			// Redis came back empty: the replica re-seeds its part of the
			// window under a hold of about a second (real time, kept by
			// Redis), during which the limit stays in its on_redis_down mode.
			status = 0
			for i := 0; i < 60 && status != 200; i++ {
				status, _, body = do(t, "POST", url, chatBody, "api-key", "k")
				if status != 200 && status != tt.whenDown {
					t.Fatalf("redis back: %d %s", status, body)
				}
				if status != 200 {
					time.Sleep(100 * time.Millisecond)
				}
			}
			if status != 200 {
				t.Fatalf("redis back: still %d after the hold: %s", status, body)
			}
		})
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestAnswerBeforeSettle: a plain answer reaches the client as soon as the
// proxy has it, not after finishing the call: here the settle waits on a
// frozen Redis (up to the limiter's 500 ms timeout), and the client holds
// the whole answer while the handler is still in it. (With ReverseProxy's
// FlushInterval 0 and no flush of its own, moat held the answer back until
// the handler returned.)
func TestAnswerBeforeSettle(t *testing.T) {
	rd := proctest.StartRedis(t)
	got, frozen := make(chan struct{}), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- struct{}{} // admitted: the reserve is done
		<-frozen
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8}}`)
	}))
	defer up.Close()
	ts := startServer(t, upstreamConfig(up.URL, "")+fmt.Sprintf(`
rate_limits:
  redis: {address: '%s'}
  rules: [{name: r, scope: deployment, tpm: 100000}]
`, rd.Addr))
	type answer struct {
		body    string
		err     error
		running int64 // data-plane handlers running when the body was read
	}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("POST", ts.url+"/v1/chat/completions", strings.NewReader(`{"model":"chat","messages":[]}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- answer{string(b), err, ts.inflight.Load()}
	}()
	<-got
	rd.Freeze()
	close(frozen)
	a := <-done
	rd.Thaw()
	if a.err != nil || !strings.Contains(a.body, `"usage"`) {
		t.Fatalf("answer %q, %v", a.body, a.err)
	}
	if a.running != 1 {
		t.Fatalf("the client had the answer only once the handler had returned (%d running): it waited for the settle", a.running)
	}
}
