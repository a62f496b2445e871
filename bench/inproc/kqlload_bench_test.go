package inproc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/gateway"
	"github.com/moat-gw/moat/internal/reqlog"
)

// heavyQuery cannot use the rollup (percentiles, dcount) and scans every
// row: the kind of query an operator runs over a long range.
const heavyQuery = `MoatGatewayLogs | where Url has "chat" | summarize (P50, P95, P99) = percentiles(TotalTime, 50, 95, 99), D = dcount(CorrelationId) by CallerId`

// queryKey is the api-key of the i-th log reader.
func queryKey(i int) string { return fmt.Sprintf("bench-reader-%d-0123456789abcdef0123456789", i) }

// BenchmarkDataPlaneUnderKQL measures data-plane latency (sequential chat
// calls, p50 and p99 reported) while six log readers, each with its own key,
// run heavy KQL queries over a 30,000-row SQLite log (about 1 s per query alone) in a loop, backing off
// by Retry-After when refused. "idle" runs no queries; "uncapped" lets all
// six run at once, as moat did before query limits; "default" uses
// management.query's defaults (workers = half the CPUs). Run with
// -benchtime=3000x; docs/benchmarks.md has the figures.
func BenchmarkDataPlaneUnderKQL(b *testing.B) {
	for _, tc := range []struct {
		name, query string
		readers     int
	}{
		{"idle", "", 0},
		{"uncapped", "  query: {max_concurrent: 64, max_per_principal: 64, workers: 64}\n", 6},
		{"default", "", 6},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv, dataURL, mgmt := startMoatWithReaders(b, startUpstream(b), tc.query)
			seedLog(b, srv.Store(), 30_000)
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var done, refused atomic.Int64
			for i := range tc.readers {
				wg.Go(func() { runQueries(ctx, mgmt, queryKey(i), &done, &refused) })
			}
			c := newClient()
			buf := make([]byte, 32<<10)
			for range 100 {
				call(b, c, dataURL, chatBody, buf)
			}
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t0 := time.Now()
				call(b, c, dataURL, chatBody, buf)
				lat = append(lat, time.Since(t0))
			}
			stop()
			wg.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(done.Load()), "queries")
			b.ReportMetric(float64(refused.Load()), "429s")
		})
	}
}

const chatBody = `{"messages":[{"role":"user","content":"Hello there"}],"max_tokens":12}`

// runQueries posts heavyQuery until ctx ends, sleeping Retry-After on 429.
func runQueries(ctx context.Context, mgmt, key string, done, refused *atomic.Int64) {
	c := newClient()
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, mgmt+"/api/query", strings.NewReader(heavyQuery))
		req.Header.Set("api-key", key)
		resp, err := c.Do(req)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			done.Add(1)
		case http.StatusTooManyRequests:
			refused.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		default:
			if ctx.Err() == nil {
				panic(fmt.Sprintf("query answered %d: %s", resp.StatusCode, body))
			}
		}
	}
}

// startMoatWithReaders is startMoat with six log-reader keys and query
// limits from queryYAML (lines under management:).
func startMoatWithReaders(tb testing.TB, upstreamURL, queryYAML string) (*gateway.Server, string, string) {
	tb.Helper()
	var keys, assigns strings.Builder
	fmt.Fprintf(&keys, "{name: bench, key: %s}", clientKey)
	for i := range 6 {
		fmt.Fprintf(&keys, ", {name: r%d, key: %s}", i, queryKey(i))
		fmt.Fprintf(&assigns, "%s{role: Moat Log Reader, principal: 'key:r%d'}", map[bool]string{true: "", false: ", "}[i == 0], i)
	}
	y := "data_dir: " + tb.TempDir() + "\n" +
		"listeners: [{name: data, address: '127.0.0.1:0', kind: private_endpoint}]\n" +
		"management:\n  listeners: [{name: mgmt, address: '127.0.0.1:0', kind: private_endpoint}]\n" + queryYAML +
		"log: {store: sqlite, level: warn}\n" +
		"auth: {keys: [" + keys.String() + "], assignments: [" + assigns.String() + "]}\n" +
		"upstreams: [{name: echo, type: azure, endpoint: '" + upstreamURL + "', api_key: bench-upstream-key}]\n" +
		"deployments: [{name: echo-gpt-4o-mini, model: gpt-4o-mini, upstreams: [{upstream: echo, deployment: gpt-4o-mini}]}]\n" +
		"shutdown: {grace_period: 5s}\n"
	cfg, err := config.Parse([]byte(y))
	if err != nil {
		tb.Fatalf("parse config: %v", err)
	}
	srv, err := gateway.New(context.Background(), cfg, gateway.Options{Version: "bench"})
	if err != nil {
		tb.Fatalf("new gateway: %v", err)
	}
	if err := srv.Start(); err != nil {
		tb.Fatalf("start gateway: %v", err)
	}
	tb.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv, "http://" + srv.Addr("data") + "/openai/deployments/echo-gpt-4o-mini/chat/completions?api-version=2024-10-21",
		"http://" + srv.Addr("mgmt")
}

// seedLog writes n records spread over the last day, from 50 callers.
func seedLog(tb testing.TB, st reqlog.Store, n int) {
	tb.Helper()
	now := time.Now().UTC()
	batch := make([]reqlog.Record, 0, 2000)
	for i := range n {
		batch = append(batch, reqlog.Record{
			Time: now.Add(-time.Duration(i) * 864 * time.Millisecond), RequestID: fmt.Sprintf("req-%08d", i),
			Caller: fmt.Sprintf("key-%02d", i%50), AuthType: "key", ClientIP: "10.0.0.1", Listener: "data",
			Deployment: "gpt-4o", Model: "gpt-4o", Operation: "ChatCompletions_Create", Method: "POST",
			Path: "/openai/deployments/gpt-4o/chat/completions", Status: 200, UpstreamStatus: 200,
			TotalMs: float64(i%997) + 0.5, PromptTokens: i % 300, CompletionTokens: i % 200, TotalTokens: i%300 + i%200,
		})
		if len(batch) == cap(batch) || i == n-1 {
			if err := st.WriteBatch(context.Background(), batch); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}
