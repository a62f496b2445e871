package reqlogfault_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/proctest"
)

// testKey is the static API key the replicas accept; static keys live in
// config, so calls do not need the store to authenticate.
const testKey = "reqlogfault-test-key-0123456789abcdef"

// replica is one `moat serve` with its addresses.
type replica struct {
	*proctest.Process
	addr, mgmt, dataDir string
	yaml                string
}

// startReplica runs moat with the request log in PostgreSQL at dsn and the
// simulator as its upstream, answering at once.
func startReplica(t *testing.T, dsn, dataDir string) *replica {
	t.Helper()
	r := &replica{addr: proctest.FreeAddr(t), mgmt: proctest.FreeAddr(t), dataDir: dataDir}
	r.yaml = fmt.Sprintf(`data_dir: %s
listeners:
  - {name: main, address: %s, kind: private_endpoint}
management:
  listeners:
    - {name: mgmt, address: %s, kind: private_endpoint}
auth:
  keys:
    - {name: load, key: %s}
log:
  store: postgres
  postgres_dsn: %q
  flush_interval: 100ms
  spool_fsync_interval: 50ms
simulator:
  time_to_first_token: 1ms
  tokens_per_second: 0
upstreams: [{name: sim, type: simulator}]
deployments:
  - {name: gpt-4o-mini, upstreams: [{upstream: sim}]}
  - {name: gpt-4o, upstreams: [{upstream: sim}]}
  - {name: text-embedding-3-small, upstreams: [{upstream: sim}]}
`, dataDir, r.addr, r.mgmt, testKey, dsn)
	r.Process = proctest.StartMoat(t, proctest.MoatConfig{YAML: r.yaml, Mgmt: r.mgmt})
	return r
}

// restart starts the replica again with the same config and data directory.
func (r *replica) restart(t *testing.T) {
	t.Helper()
	r.Process = proctest.StartMoat(t, proctest.MoatConfig{YAML: r.yaml, Mgmt: r.mgmt})
}

// metric reads one unlabeled series from the replica's /metrics.
func (r *replica) metric(name string) float64 {
	resp, err := http.Get("http://" + r.mgmt + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// load drives chat calls at the replicas from a few workers until stop,
// and keeps the request ID of every call that got a response.
type load struct {
	mu       sync.Mutex
	ids      []string // from apim-request-id, calls answered 200
	failed   map[string]int
	noAnswer int // transport errors: the replica was gone
	start    time.Time
	stop     chan struct{}
	wg       sync.WaitGroup
}

const workers = 6

func startLoad(targets func() []string) *load {
	l := &load{failed: map[string]int{}, stop: make(chan struct{}), start: time.Now()}
	client := &http.Client{Timeout: 10 * time.Second}
	body := `{"messages":[{"role":"user","content":"hello"}],"max_tokens":8}`
	for w := range workers {
		l.wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-l.stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				ts := targets()
				req, _ := http.NewRequest(http.MethodPost, "http://"+ts[i%len(ts)]+
					"/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", strings.NewReader(body))
				req.Header.Set("api-key", testKey)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					l.mu.Lock()
					l.noAnswer++
					l.mu.Unlock()
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				l.mu.Lock()
				if resp.StatusCode == http.StatusOK {
					l.ids = append(l.ids, resp.Header.Get("apim-request-id"))
				} else {
					l.failed[resp.Status]++
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

// finish stops the workers and returns the request IDs answered.
func (l *load) finish() []string {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ids...)
}

func (l *load) answered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids)
}

// logged counts the rows per request ID in the request log, reading
// PostgreSQL directly (not through the forwarder).
func logged(t *testing.T, dsn string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT request_id, count(*) FROM request_log GROUP BY request_id")
	if err != nil {
		t.Fatalf("read request log: %v", err)
	}
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// missing returns how many of ids the log lacks, and how many it holds
// more than once.
func missing(ids []string, rows map[string]int) (lost, duplicated int) {
	for _, id := range ids {
		switch rows[id] {
		case 0:
			lost++
		case 1:
		default:
			duplicated++
		}
	}
	return lost, duplicated
}

// waitLogged polls the log until it holds every id or the deadline passes
// (a bound on a broken test, not a timing assertion).
func waitLogged(t *testing.T, dsn string, ids []string, within time.Duration) map[string]int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		rows := logged(t, dsn)
		if lost, _ := missing(ids, rows); lost == 0 || time.Now().After(deadline) {
			return rows
		}
		time.Sleep(250 * time.Millisecond)
	}
}
