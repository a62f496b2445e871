package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

// testServer is a running moat on loopback ports with its SQLite log in a
// temp dir.
type testServer struct {
	*Server
	t       *testing.T
	url     string
	mgmtURL string
	dbPath  string
	stopped bool

	clientOnce sync.Once
	httpClient *http.Client
}

// startServer runs moat with cfgYAML (listeners and store are filled in).
func startServer(t *testing.T, cfgYAML string) *testServer {
	t.Helper()
	return startServerOpts(t, cfgYAML, Options{Version: "test"})
}

// startServerOpts is startServer with process options (a test clock).
func startServerOpts(t *testing.T, cfgYAML string, opts Options) *testServer {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "moat.db")
	cfg := mustConfig(t, completeConfig(cfgYAML, dir))
	srv, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	ts := &testServer{Server: srv, t: t, url: "http://" + srv.Addr("data"), mgmtURL: "http://" + srv.Addr("mgmt"), dbPath: db}
	t.Cleanup(func() { ts.stop() })
	return ts
}

// completeConfig fills in what startServer's tests leave out: loopback
// listeners, the data dir, a fast simulator, no auth and a grace period.
func completeConfig(cfgYAML, dir string) string {
	y := cfgYAML + "\ndata_dir: " + dir + "\n"
	if !strings.Contains(cfgYAML, "listeners:") {
		y += "listeners: [{name: data, address: '127.0.0.1:0'}]\n" +
			"management: {listeners: [{name: mgmt, address: '127.0.0.1:0', kind: private_endpoint}]}\n"
	}
	if !strings.Contains(cfgYAML, "simulator:") {
		y += "simulator: {time_to_first_token: 1ms, tokens_per_second: 0}\n"
	}
	if !strings.Contains(cfgYAML, "auth:") {
		y += "auth: {disabled: true}\n"
	}
	if !strings.Contains(cfgYAML, "shutdown:") {
		y += "shutdown: {grace_period: 5s, pre_stop: 0s}\n"
	}
	return y
}

// reload reloads moat with cfgYAML, completed as startServer does.
func (ts *testServer) reload(cfgYAML string) {
	ts.t.Helper()
	if err := ts.Reload(mustConfig(ts.t, completeConfig(cfgYAML, ts.cfg.Load().DataDir))); err != nil {
		ts.t.Fatalf("reload: %v", err)
	}
}

// stop shuts moat down, flushing the request log.
func (ts *testServer) stop() {
	if ts.stopped {
		return
	}
	ts.stopped = true
	if err := ts.Shutdown(context.Background()); err != nil {
		ts.t.Errorf("shutdown: %v", err)
	}
}

// records stops moat and returns every request-log record.
func (ts *testServer) records() []reqlog.Record {
	ts.t.Helper()
	ts.stop()
	st, err := sqlitestore.Open(context.Background(), ts.dbPath, nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.After(context.Background(), 0, 10000)
	if err != nil {
		ts.t.Fatal(err)
	}
	return recs
}

// do sends a request and returns status, headers and body.
func do(t *testing.T, method, url, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

const chatBody = `{"messages":[{"role":"user","content":"Hello there"}],"max_tokens":12}`

func mustConfig(t *testing.T, y string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(y))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func parseForTest(y string) (*config.Config, error) { return config.Parse([]byte(y)) }

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// client is an HTTP client with enough idle connections for load tests.
func (ts *testServer) client() *http.Client {
	ts.clientOnce.Do(func() {
		ts.httpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}
	})
	return ts.httpClient
}

func httpRequest(method, url, body string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("api-key", "k")
	return req, nil
}

func sleepMs(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }

func httptestRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// metricValue is the value of the counter or gauge series name{labels} in
// ts's registry, 0 if there is none; labels are name, value pairs, and a
// label the series lacks counts as empty.
func (ts *testServer) metricValue(name string, labels ...string) float64 {
	ts.t.Helper()
	mfs, err := ts.Registry().Gather()
	if err != nil {
		ts.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if got[labels[i]] != labels[i+1] {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
