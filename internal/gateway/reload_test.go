package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/simulator"
)

func TestReload(t *testing.T) {
	base := `
listeners: [{name: data, address: '127.0.0.1:0', kind: public}]
management: {listeners: [{name: mgmt, address: '127.0.0.1:0', kind: private_endpoint}]}
simulator: {time_to_first_token: 1ms, tokens_per_second: 100}
`
	ts := startServer(t, base+"network: {public_network_access: enabled}")
	url := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"

	// A stream that outlives the reload: 30 tokens at 100 tokens/s.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp := post(t, ctx, url, `{"messages":[{"role":"user","content":"long"}],"max_tokens":30,"stream":true}`)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}

	withDir := func(y string) string {
		return y + "\ndata_dir: " + ts.cfg.Load().DataDir + "\nshutdown: {grace_period: 5s, pre_stop: 0s}\n"
	}
	if err := ts.Reload(mustConfig(t, withDir(base+"network: {public_network_access: disabled}"))); err != nil {
		t.Fatal(err)
	}
	if status, _, body := do(t, "POST", url, chatBody, "api-key", "k"); status != 403 || body != bodyPublicDisabled {
		t.Fatalf("after reload: %d %s", status, body)
	}
	// A reload that moves a listener is refused; the running config stays.
	moved := strings.Replace(base, "127.0.0.1:0', kind: public", "127.0.0.1:1', kind: public", 1)
	if err := ts.Reload(mustConfig(t, withDir(moved+"network: {public_network_access: enabled}"))); err == nil {
		t.Fatal("listener change accepted on reload")
	}
	if status, _, _ := do(t, "POST", url, chatBody, "api-key", "k"); status != 403 {
		t.Fatalf("refused reload changed behaviour: %d", status)
	}
	// The stream that started before the reload finishes normally.
	rest, err := readAll(br)
	if err != nil || !strings.HasSuffix(strings.TrimSpace(rest), "data: [DONE]") {
		t.Fatalf("in-flight stream: %v %q", err, rest)
	}
}

func readAll(br *bufio.Reader) (string, error) {
	var b strings.Builder
	_, err := br.WriteTo(&b)
	return b.String(), err
}

// statusOf reads one pool member's entry from /status.
func statusOf(t *testing.T, ts *testServer, deployment, upstream string) UpstreamStatus {
	t.Helper()
	code, _, body := do(t, "GET", ts.mgmtURL+"/status", "")
	var st struct{ Upstreams []UpstreamStatus }
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("status: %d %v %s", code, err, body)
	}
	for _, u := range st.Upstreams {
		if u.Deployment == deployment && u.Upstream == upstream {
			return u
		}
	}
	t.Fatalf("status has no %s/%s: %s", deployment, upstream, body)
	return UpstreamStatus{}
}

// TestReloadKeepsUpstreamHealth: a reload that changes nothing about an
// upstream keeps it benched or its breaker open until the bench or open_for
// ends, in routing, /status and the breaker gauge.
func TestReloadKeepsUpstreamHealth(t *testing.T) {
	breaker := "routing: {breaker: {consecutive_failures: 3, failure_rate: -1, open_for: 30s}}\n"
	tests := []struct {
		name         string
		faults       simulator.Faults
		aPrio, bPrio int
		wantState    string // a's breaker state after the reload
		gauge        string // a's moat_upstream_breaker_state after the reload
		wait         time.Duration
		wantRetried  string // the attempt trace once a is back
	}{
		{name: "429 bench", faults: simulator.Faults{RateLimitRate: 1}, aPrio: 1, bPrio: 2,
			wantState: "closed", gauge: "0", wait: 11 * time.Second, wantRetried: "a 429"},
		{name: "open breaker", faults: simulator.Faults{ErrorRate: 1}, aPrio: 1, bPrio: 1,
			wantState: "open", gauge: "2", wait: 31 * time.Second, wantRetried: "a 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startSim(t, tt.faults)
			b := startSim(t, simulator.Faults{})
			clk := newClock()
			ts := startServerOpts(t, poolConfig(a.URL, b.URL, tt.aPrio, tt.bPrio, breaker), Options{Now: clk.Now})
			// Call until a is benched or its breaker opens; b answers meanwhile.
			trips := 0
			before := statusOf(t, ts, "chat", "a")
			for ; before.Available; before = statusOf(t, ts, "chat", "a") {
				if trips == 50 {
					t.Fatalf("a never left the pool: %+v", before)
				}
				if status, _, body := do(t, "POST", chatURL(ts), chatBody, "api-key", "k"); status != 200 {
					t.Fatalf("call %d: %d %s", trips, status, body)
				}
				trips++
			}
			// An unrelated change: request bodies in the log.
			ts.reload(poolConfig(a.URL, b.URL, tt.aPrio, tt.bPrio, breaker+"log: {bodies: true}"))
			after := statusOf(t, ts, "chat", "a")
			if after.Available || after.State != tt.wantState || !after.BenchedUntil.Equal(before.BenchedUntil) ||
				!after.OpenUntil.Equal(before.OpenUntil) {
				t.Fatalf("a after reload: %+v, before: %+v", after, before)
			}
			_, _, metrics := do(t, "GET", ts.mgmtURL+"/metrics", "")
			if want := `moat_upstream_breaker_state{deployment="chat",upstream="a"} ` + tt.gauge; !strings.Contains(metrics, want) {
				t.Fatalf("want %s:\n%s", want, grep(metrics, "breaker_state"))
			}
			for i := range 5 {
				if status, _, body := do(t, "POST", chatURL(ts), chatBody, "api-key", "k"); status != 200 {
					t.Fatalf("call %d after reload: %d %s", i, status, body)
				}
			}
			clk.Add(tt.wait)
			if status, _, body := do(t, "POST", chatURL(ts), chatBody, "api-key", "k"); status != 200 {
				t.Fatalf("call after the wait: %d %s", status, body)
			}
			recs := ts.records()
			for _, r := range recs[trips : trips+5] {
				if r.Attempts != 1 || r.Upstream != "b" {
					t.Fatalf("a was called after the reload: %+v", r)
				}
			}
			if last := recs[len(recs)-1]; last.Attempts != 2 || !strings.HasPrefix(last.ErrorMessage, "attempts: "+tt.wantRetried) {
				t.Fatalf("a not tried once its bench or open_for ended: %+v", last)
			}
		})
	}
}

// TestReloadChangedUpstreamStartsFresh: an upstream whose endpoint or
// credential changed on reload is a different upstream, and its open breaker
// is not carried over.
func TestReloadChangedUpstreamStartsFresh(t *testing.T) {
	breaker := "routing: {breaker: {consecutive_failures: 3, failure_rate: -1, open_for: 30s}}\n"
	tests := []struct {
		name      string
		change    func(cfg, badURL, goodURL string) string
		available bool
		attempts  int    // of the first call after the reload
		upstream  string // that answered it
	}{
		{name: "endpoint changed", available: true, attempts: 1, upstream: "a",
			change: func(cfg, bad, good string) string { return strings.Replace(cfg, bad, good, 1) }},
		{name: "credential changed", available: true, attempts: 2, upstream: "b",
			change: func(cfg, _, _ string) string { return strings.Replace(cfg, "api_key: key-a", "api_key: key-a2", 1) }},
		{name: "only priorities changed", available: false, attempts: 1, upstream: "b",
			change: func(cfg, _, _ string) string { return cfg }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := startSim(t, simulator.Faults{ErrorRate: 1})
			good := startSim(t, simulator.Faults{})
			b := startSim(t, simulator.Faults{})
			clk := newClock()
			ts := startServerOpts(t, poolConfig(bad.URL, b.URL, 1, 1, breaker), Options{Now: clk.Now})
			for i := 0; statusOf(t, ts, "chat", "a").State != "open"; i++ {
				if i == 50 {
					t.Fatal("a's breaker never opened")
				}
				do(t, "POST", chatURL(ts), chatBody, "api-key", "k")
			}
			// a first, b behind it: a fresh a takes the next call.
			ts.reload(tt.change(poolConfig(bad.URL, b.URL, 1, 2, breaker), bad.URL, good.URL))
			st := statusOf(t, ts, "chat", "a")
			if st.Available != tt.available || (tt.available && (st.State != "closed" || st.ConsecutiveFailures != 0)) {
				t.Fatalf("a after reload: %+v", st)
			}
			if status, _, body := do(t, "POST", chatURL(ts), chatBody, "api-key", "k"); status != 200 {
				t.Fatalf("call after reload: %d %s", status, body)
			}
			recs := ts.records()
			if last := recs[len(recs)-1]; last.Attempts != tt.attempts || last.Upstream != tt.upstream {
				t.Fatalf("first call after reload: %+v", last)
			}
		})
	}
}
