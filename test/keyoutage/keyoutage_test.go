package keyoutage

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/proctest"
)

const storeTimeout = 500 * time.Millisecond

// cluster is moat processes sharing one PostgreSQL schema through a
// forwarder the test controls.
type cluster struct {
	fwd   *proctest.Forwarder
	dsn   string // direct, not through the forwarder
	cfg   string // a config file for the CLI, same store as the servers
	procs []*proctest.Process
	data  []string // data-plane base URLs
}

func configYAML(dsn, data, mgmt string) string {
	return fmt.Sprintf(`listeners: [{name: pe, address: %q, kind: private_endpoint}]
management: {listeners: [{name: mgmt, address: %q, kind: private_endpoint}]}
auth:
  keys: [{name: static, key: %q}]
  store_timeout: %s
log: {store: postgres, postgres_dsn: %q, flush_interval: 50ms}
upstreams: [{name: sim, type: simulator}]
deployments: [{name: gpt-4o-mini, upstreams: [{upstream: sim}]}]
simulator: {time_to_first_token: 1ms, tokens_per_second: 0}
shutdown: {grace_period: 2s}
`, data, mgmt, strings.Repeat("s", 40), storeTimeout, dsn)
}

func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	dsn := proctest.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{fwd: proctest.Forward(t, u.Host), dsn: dsn}
	via := proctest.PostgresDSNVia(t, dsn, c.fwd.Addr)
	c.cfg = filepath.Join(t.TempDir(), "cli.yaml")
	if err := os.WriteFile(c.cfg, []byte(configYAML(via, proctest.FreeAddr(t), proctest.FreeAddr(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	for range n {
		data, mgmt := proctest.FreeAddr(t), proctest.FreeAddr(t)
		c.procs = append(c.procs, proctest.StartMoat(t, proctest.MoatConfig{YAML: configYAML(via, data, mgmt), Mgmt: mgmt}))
		c.data = append(c.data, "http://"+data)
	}
	return c
}

var keyLine = regexp.MustCompile(`(?m)^id:\s+(\S+)\nkey:\s+(\S+)$`)

// createKey runs `moat keys create` and returns the new key's ID and plaintext.
func (c *cluster) createKey(t *testing.T, name string) (id, plain string) {
	t.Helper()
	out, err := proctest.Run(t, nil, "keys", "create", "--config", c.cfg, "--name", name)
	if err != nil {
		t.Fatalf("moat keys create: %v\n%s", err, out)
	}
	m := keyLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("moat keys create printed no key:\n%s", out)
	}
	return m[1], m[2]
}

var client = &http.Client{Timeout: 30 * time.Second}

// call makes one chat completion and returns its status and duration.
func call(base, key string) (int, time.Duration, error) {
	body := `{"messages":[{"role":"user","content":"hi"}],"max_tokens":5}`
	req, _ := http.NewRequest(http.MethodPost, base+"/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", strings.NewReader(body))
	req.Header.Set("api-key", key)
	req.Header.Set("content-type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, time.Since(start), err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, time.Since(start), nil
}

// phaseStats are the outcomes of the calls made in one phase.
type phaseStats struct {
	mu        sync.Mutex
	calls     int
	failed    int
	statuses  map[int]int
	durations []time.Duration
}

func (s *phaseStats) add(status int, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.statuses == nil {
		s.statuses = map[int]int{}
	}
	if err != nil || status != http.StatusOK {
		s.failed++
	}
	s.statuses[status]++
	s.durations = append(s.durations, d)
}

func (s *phaseStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := slices.Clone(s.durations)
	slices.Sort(d)
	q := func(p float64) time.Duration {
		if len(d) == 0 {
			return 0
		}
		return d[min(len(d)-1, int(p*float64(len(d))))]
	}
	return fmt.Sprintf("calls %d, failed %d, statuses %v, p50 %s, p99 %s, max %s",
		s.calls, s.failed, s.statuses, q(0.5).Round(time.Millisecond), q(0.99).Round(time.Millisecond), q(1).Round(time.Millisecond))
}

// TestStoredKeysSurviveStoreOutage: under steady load with stored keys,
// PostgreSQL refusing connections for 20 s, then hanging for 10 s, fails no
// call; a key never seen before is refused with a 401 during the outage,
// quickly, and works once the store is back.
func TestStoredKeysSurviveStoreOutage(t *testing.T) {
	c := startCluster(t, 1)
	var keys []string
	for i := range 12 {
		_, plain := c.createKey(t, fmt.Sprintf("load-%d", i))
		keys = append(keys, plain)
	}
	_, unseen := c.createKey(t, "unseen")
	base := c.data[0]

	phases := []struct {
		name  string
		dur   time.Duration
		fault func()
	}{
		{"store up", 5 * time.Second, c.fwd.Resume},
		{"store refusing", 20 * time.Second, c.fwd.Refuse},
		{"store hung", 10 * time.Second, c.fwd.Hang},
		{"store back", 5 * time.Second, c.fwd.Resume},
	}
	stats := make([]*phaseStats, len(phases))
	unseenStatus := map[string][]int{}
	for i, ph := range phases {
		stats[i] = &phaseStats{}
		ph.fault()
		end := time.Now().Add(ph.dur)
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				for n := w; time.Now().Before(end); n++ {
					st, d, err := call(base, keys[n%len(keys)])
					stats[i].add(st, d, err)
					if err != nil || st != http.StatusOK {
						t.Logf("%s: key %d: status %d, err %v, after %s", ph.name, n%len(keys), st, err, d)
					}
				}
			})
		}
		if ph.name != "store up" {
			time.Sleep(2 * time.Second) // the outage has begun in earnest
			st, d, err := call(base, unseen)
			unseenStatus[ph.name] = append(unseenStatus[ph.name], st)
			t.Logf("%s: a key never seen answered %d in %s (err %v)", ph.name, st, d.Round(time.Millisecond), err)
		}
		wg.Wait()
		t.Logf("%s (%s): %s", ph.name, ph.dur, stats[i])
	}
	for i, ph := range phases {
		if stats[i].failed != 0 {
			t.Errorf("%s: %d of %d calls with stored keys failed", ph.name, stats[i].failed, stats[i].calls)
		}
		if stats[i].calls == 0 {
			t.Errorf("%s: no calls made", ph.name)
		}
	}
	for _, ph := range []string{"store refusing", "store hung"} {
		if got := unseenStatus[ph]; len(got) != 1 || got[0] != http.StatusUnauthorized {
			t.Errorf("%s: a key never seen answered %v, want 401", ph, got)
		}
	}
	if got := unseenStatus["store back"]; len(got) != 1 || got[0] != http.StatusOK {
		t.Errorf("store back: the new key answered %v, want 200", got)
	}
	if logs := c.procs[0].Logs(); !strings.Contains(logs, "serving known keys from the cache") {
		t.Errorf("no log line said the store failed:\n%s", tail(logs, 40))
	}
	m := metrics(t, c.procs[0].Mgmt)
	if v := m["moat_key_cache_stale_served_total"]; v == 0 {
		t.Errorf("moat_key_cache_stale_served_total = 0 after the outage")
	}
	t.Logf("stale serves %v, cache hits %v, misses %v", m["moat_key_cache_stale_served_total"],
		m["moat_key_cache_hits_total"], m["moat_key_cache_misses_total"])
	for deadline := time.Now().Add(30 * time.Second); metrics(t, c.procs[0].Mgmt)["moat_identity_feed_live"] != 1; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the change feed did not come back within 30 s of the store")
		}
	}
}

// metrics scrapes a process's unlabelled moat_ series.
func metrics(t *testing.T, mgmt string) map[string]float64 {
	t.Helper()
	resp, err := client.Get("http://" + mgmt + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(name, "moat_") || strings.Contains(name, "{") {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err == nil {
			out[name] = v
		}
	}
	return out
}

// TestRevocationReachesEveryReplica: a key revoked with `moat keys revoke`
// stops working on two replicas that both had it cached, through the
// PostgreSQL change feed rather than the cache TTL.
func TestRevocationReachesEveryReplica(t *testing.T) {
	c := startCluster(t, 2)
	id, plain := c.createKey(t, "doomed")
	for _, base := range c.data {
		for range 3 {
			if st, _, err := call(base, plain); err != nil || st != http.StatusOK {
				t.Fatalf("%s before revocation: %d %v", base, st, err)
			}
		}
	}
	start := time.Now()
	out, err := proctest.Run(t, nil, "keys", "revoke", id, "--config", c.cfg)
	if err != nil {
		t.Fatalf("moat keys revoke: %v\n%s", err, out)
	}
	revoked := time.Since(start)
	start = time.Now() // the revocation is committed by now
	for i, base := range c.data {
		var st int
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if st, _, err = call(base, plain); err == nil && st == http.StatusUnauthorized {
				break
			}
		}
		if st != http.StatusUnauthorized {
			t.Fatalf("replica %d still accepts the revoked key after 30s (status %d)", i, st)
		}
		t.Logf("replica %d refuses the key %s after `moat keys revoke` returned (the command itself took %s)",
			i, time.Since(start).Round(time.Millisecond), revoked.Round(time.Millisecond))
	}
}

func tail(s string, n int) string {
	lines := bytes.Split([]byte(s), []byte("\n"))
	return string(bytes.Join(lines[max(0, len(lines)-n):], []byte("\n")))
}
