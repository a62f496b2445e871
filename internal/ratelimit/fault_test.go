package ratelimit_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/moat-gw/moat/internal/proctest"
)

// These tests run the Redis faults of issue 10 with real processes: three
// `moat serve` sharing a redis-server of the test's own, which the test
// freezes, restarts empty, or shares between replicas with different
// limits. Real processes need real time, so the windows are real minutes;
// each scenario keeps its load short.

const (
	faultLimit = 20000
	callTokens = 23 // 8 prompt + max_tokens 15, which the simulator fills
	callBody   = `{"messages":[{"role":"user","content":"count"}],"max_tokens":15}`
)

// fleet is three moat processes on one Redis.
type fleet struct {
	redis *proctest.Redis
	data  []string // data-plane base URLs
	procs []*proctest.Process
}

func startFleet(t *testing.T, limits []int, rule string) *fleet {
	t.Helper()
	if testing.Short() {
		t.Skip("real processes and real minutes; skipped with -short")
	}
	f := &fleet{redis: proctest.StartRedis(t)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	f.data = make([]string, len(limits))
	f.procs = make([]*proctest.Process, len(limits))
	for i, lim := range limits {
		data, mgmt := proctest.FreeAddr(t), proctest.FreeAddr(t)
		cfg := fmt.Sprintf(`data_dir: %s
listeners: [{name: data, address: '%s'}]
management: {listeners: [{name: mgmt, address: '%s', kind: private_endpoint}]}
simulator: {time_to_first_token: 1ms, tokens_per_second: 0}
auth: {disabled: true}
log: {format: json}
upstreams: [{name: sim, type: simulator}]
deployments:
  - {name: gpt-4o-mini, upstreams: [{upstream: sim}]}
  - {name: gpt-4o, upstreams: [{upstream: sim}]}
  - {name: text-embedding-3-small, upstreams: [{upstream: sim}]}
shutdown: {grace_period: 2s}
rate_limits:
  redis: {address: '%s'}
  rules: [{name: tpm, scope: deployment, tpm: %d%s}]
`, t.TempDir(), data, mgmt, f.redis.Addr, lim, rule)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := proctest.StartMoatNoWait(t, proctest.MoatConfig{YAML: cfg, Mgmt: mgmt})
			if err := p.WaitReady(90 * time.Second); err != nil {
				t.Errorf("moat %d not ready: %v\n%s", i, err, p.Logs())
			}
			mu.Lock()
			f.data[i], f.procs[i] = "http://"+data, p
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return f
}

// call is one client call as the client saw it.
type call struct {
	start, end time.Time
	status     int
}

// load calls the fleet round robin from workers goroutines until stop is
// closed, pausing pause between a worker's calls, and returns every call.
func (f *fleet) load(workers int, pause time.Duration, stop <-chan struct{}) []call {
	client := &http.Client{Timeout: 30 * time.Second}
	var mu sync.Mutex
	var calls []call
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := w; ; n += workers {
				select {
				case <-stop:
					return
				default:
				}
				url := f.data[n%len(f.data)] + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
				c := call{start: time.Now()}
				resp, err := client.Post(url, "application/json", strings.NewReader(callBody))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					c.status = resp.StatusCode
				}
				c.end = time.Now()
				mu.Lock()
				calls = append(calls, c)
				mu.Unlock()
				time.Sleep(pause)
			}
		}()
	}
	wg.Wait()
	return calls
}

// worstWindow returns the most tokens admitted in any 60 s span starting
// on a whole second. definite counts a call only when its whole
// client-side interval lies in the span (so its admission surely did);
// possible counts it when the interval touches the span, so it may count
// calls in flight at the edges that were admitted outside it. The limiter
// promises that the real count, between the two, is at most the limit.
func worstWindow(calls []call) (definite, possible int) {
	if len(calls) == 0 {
		return 0, 0
	}
	first := slices.MinFunc(calls, func(a, b call) int { return a.start.Compare(b.start) }).start.Truncate(time.Second)
	last := slices.MaxFunc(calls, func(a, b call) int { return a.end.Compare(b.end) }).end
	for s := first.Add(-time.Minute); !s.After(last); s = s.Add(time.Second) {
		e := s.Add(time.Minute)
		d, p := 0, 0
		for _, c := range calls {
			if c.status != http.StatusOK {
				continue
			}
			if !c.start.Before(s) && c.end.Before(e) {
				d += callTokens
			}
			if c.end.After(s) && c.start.Before(e) {
				p += callTokens
			}
		}
		definite, possible = max(definite, d), max(possible, p)
	}
	return definite, possible
}

// logState logs what Redis holds in the fleet's token windows and each
// replica's limiter counters, so a failed run says where the tokens went.
func (f *fleet) logState(t *testing.T, admitted int) {
	t.Helper()
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: f.redis.Addr})
	defer c.Close()
	keys, err := c.Keys(ctx, "moat:rl:t:*").Result()
	if err != nil {
		t.Logf("reading Redis: %v", err)
		return
	}
	var sum int64
	for _, k := range keys {
		m, _ := c.HGetAll(ctx, k).Result()
		for field, v := range m {
			if field == "L" {
				continue
			}
			var n int64
			_, _ = fmt.Sscan(v, &n)
			sum += n
		}
	}
	t.Logf("Redis token windows hold %d tokens; the clients saw %d admitted", sum, admitted)
	client := &http.Client{Timeout: 10 * time.Second}
	for i, p := range f.procs {
		resp, err := client.Get("http://" + p.Mgmt + "/metrics")
		if err != nil {
			t.Logf("moat %d metrics: %v", i, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var lines []string
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, "moat_ratelimit_") {
				lines = append(lines, l)
			}
		}
		t.Logf("moat %d: %s", i, strings.Join(lines, "; "))
	}
}

// checkJSONLogs fails when a process wrote a log line that is not JSON,
// such as go-redis's own "redis: …" lines (log.format: json).
func checkJSONLogs(t *testing.T, f *fleet) {
	t.Helper()
	for i, p := range f.procs {
		for _, line := range strings.Split(p.Logs(), "\n") {
			if strings.HasPrefix(line, "redis: ") || (strings.HasPrefix(line, "time=") && strings.Contains(line, "level=")) {
				t.Errorf("moat %d wrote a line outside log.format json: %q", i, line)
			}
		}
	}
}

// TestRedisFrozen: Redis is stopped with SIGSTOP under load; calls end in
// the fail_closed 503 instead of waiting on it, and the fleet resumes when
// it thaws. The latencies are logged for docs/benchmarks.md, not asserted.
func TestRedisFrozen(t *testing.T) {
	f := startFleet(t, []int{faultLimit, faultLimit, faultLimit}, "")
	const frozenFor = 12 * time.Second
	stop := make(chan struct{})
	var calls []call
	done := make(chan struct{})
	go func() { calls = f.load(6, 10*time.Millisecond, stop); close(done) }()
	time.Sleep(3 * time.Second)
	freezeAt := time.Now()
	f.redis.Freeze()
	time.Sleep(frozenFor)
	thawAt := time.Now()
	f.redis.Thaw()
	time.Sleep(4 * time.Second)
	close(stop)
	<-done

	var during []time.Duration
	statuses := map[int]int{}
	after := map[int]int{}
	for _, c := range calls {
		if c.start.After(freezeAt) && c.start.Before(thawAt) {
			during = append(during, c.end.Sub(c.start))
			statuses[c.status]++
		}
		if c.start.After(thawAt.Add(2 * time.Second)) {
			after[c.status]++
		}
	}
	if len(during) == 0 {
		t.Fatal("no calls while Redis was frozen")
	}
	slices.Sort(during)
	p99 := during[len(during)*99/100]
	t.Logf("Redis frozen %v: %d calls during the freeze, statuses %v, latency p50 %v p99 %v max %v",
		frozenFor, len(during), statuses, during[len(during)/2], p99, during[len(during)-1])
	if n := statuses[http.StatusServiceUnavailable]; n < len(during)/2 {
		t.Errorf("%d of %d calls during the freeze answered 503; want fail_closed to answer most", n, len(during))
	}
	if statuses[0] > 0 {
		t.Errorf("%d calls during the freeze failed without an answer (client timeout 30 s)", statuses[0])
	}
	// The window filled before the freeze, so after it calls are counted
	// again: 429 (or 200), and no more 503.
	t.Logf("statuses 2 s after the thaw: %v", after)
	if after[http.StatusServiceUnavailable] > 0 || after[http.StatusTooManyRequests]+after[http.StatusOK] == 0 {
		t.Errorf("statuses 2 s after the thaw = %v, want shared counting back (429/200, no 503)", after)
	}
	checkJSONLogs(t, f)
}

// TestRedisRestartEmpty: Redis restarts empty mid-window while the window
// is full; the replicas put their part back before admitting again, so no
// 60 s span holds more than the limit, under fail_closed and local_share.
func TestRedisRestartEmpty(t *testing.T) {
	for _, mode := range []struct{ name, rule string }{
		{"fail_closed", ""},
		{"local_share", ", on_redis_down: local_share, local_share: 0.33"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			f := startFleet(t, []int{faultLimit, faultLimit, faultLimit}, mode.rule)
			stop := make(chan struct{})
			var calls []call
			done := make(chan struct{})
			go func() { calls = f.load(6, 10*time.Millisecond, stop); close(done) }()
			time.Sleep(12 * time.Second) // the window fills in a few seconds
			restartAt := time.Now()
			f.redis.Restart()
			time.Sleep(15 * time.Second)
			close(stop)
			<-done

			definite, possible := worstWindow(calls)
			admitted, before := 0, 0
			for _, c := range calls {
				if c.status == http.StatusOK {
					admitted++
					if c.end.Before(restartAt) {
						before++
					}
				}
			}
			t.Logf("%s: %d calls, %d admitted (%d before the restart); worst 60 s span %d tokens definite, %d possible (limit %d: %.1f%%)",
				mode.name, len(calls), admitted, before, definite, possible, faultLimit, 100*float64(definite)/faultLimit)
			if before*callTokens < faultLimit*9/10 {
				t.Fatalf("the window was not full before the restart (%d tokens); the test proves nothing", before*callTokens)
			}
			if definite > faultLimit {
				t.Errorf("a 60 s span admitted %d tokens, over the limit of %d", definite, faultLimit)
			}
			checkJSONLogs(t, f)
		})
	}
}

// TestRedisFrozenLocalShare: Redis freezes early in a window; local_share
// replicas keep admitting from their shares, and when Redis thaws they
// merge those admissions back before admitting through Redis again, so
// the window the outage started in still holds at most the limit.
func TestRedisFrozenLocalShare(t *testing.T) {
	f := startFleet(t, []int{faultLimit, faultLimit, faultLimit}, ", on_redis_down: local_share, local_share: 0.33")
	stop := make(chan struct{})
	var calls []call
	done := make(chan struct{})
	go func() { calls = f.load(6, 10*time.Millisecond, stop); close(done) }()
	time.Sleep(time.Second)
	freezeAt := time.Now()
	f.redis.Freeze()
	time.Sleep(8 * time.Second)
	thawAt := time.Now()
	f.redis.Thaw()
	time.Sleep(12 * time.Second)
	close(stop)
	<-done

	definite, possible := worstWindow(calls)
	before, during, after := 0, 0, 0
	for _, c := range calls {
		switch {
		case c.status != http.StatusOK:
		case c.end.Before(freezeAt):
			before++
		case c.start.After(freezeAt) && c.end.Before(thawAt):
			during++
		case c.start.After(thawAt):
			after++
		}
	}
	t.Logf("local_share, Redis frozen 8 s: %d calls; admitted %d before, %d during, %d after the freeze; worst 60 s span %d tokens definite, %d possible (limit %d: %.1f%%)",
		len(calls), before, during, after, definite, possible, faultLimit, 100*float64(definite)/faultLimit)
	admitted := 0
	for _, c := range calls {
		if c.status == http.StatusOK {
			admitted += callTokens
		}
	}
	f.logState(t, admitted)
	if during == 0 {
		t.Fatal("no local admission during the freeze; the test proves nothing")
	}
	if definite > faultLimit {
		t.Errorf("a 60 s span admitted %d tokens, over the limit of %d", definite, faultLimit)
	}
	checkJSONLogs(t, f)
}

// TestRedisLimitDriftReported: three replicas run the same rule with
// 20k, 10k and 40k; every one of them reports the drift in its log and in
// moat_ratelimit_limit_drift.
func TestRedisLimitDriftReported(t *testing.T) {
	f := startFleet(t, []int{20000, 10000, 40000}, "")
	client := &http.Client{Timeout: 10 * time.Second}
	for n := range 9 {
		url := f.data[n%3] + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
		resp, err := client.Post(url, "application/json", strings.NewReader(callBody))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for i, p := range f.procs {
		resp, err := client.Get("http://" + p.Mgmt + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `moat_ratelimit_limit_drift{rule="tpm"} 1`) {
			t.Errorf("moat %d: no drift metric:\n%s", i, grep(string(body), "moat_ratelimit"))
		}
		if !strings.Contains(p.Logs(), "rate limit drift") {
			t.Errorf("moat %d: no drift log line", i)
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
