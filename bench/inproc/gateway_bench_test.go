package inproc

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-gw/moat/bench/fixture"
	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/gateway"
)

const clientKey = "bench-client-key-0123456789abcdef0123456789"

// startMoat runs moat in front of upstreamURL with the request log on
// SQLite in a temp dir and authYAML as its auth section, and returns the
// chat completions URL of its deployment.
func startMoat(tb testing.TB, upstreamURL, authYAML string) string {
	tb.Helper()
	y := "data_dir: " + tb.TempDir() + "\n" +
		"listeners: [{name: data, address: '127.0.0.1:0', kind: private_endpoint}]\n" +
		"management: {listeners: [{name: mgmt, address: '127.0.0.1:0', kind: private_endpoint}]}\n" +
		"log: {store: sqlite, level: warn}\n" +
		authYAML +
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
	tb.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	})
	return "http://" + srv.Addr("data") + "/openai/deployments/echo-gpt-4o-mini/chat/completions?api-version=2024-10-21"
}

// startUpstream runs the fixed-answer upstream and returns its base URL.
func startUpstream(tb testing.TB) string {
	tb.Helper()
	up := httptest.NewServer(fixture.NewHandler(20))
	tb.Cleanup(up.Close)
	return up.URL
}

func directURL(base string) string {
	return base + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
}

// call sends one benchmark call and reads the whole answer.
func call(tb testing.TB, c *http.Client, url, body string, buf []byte) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["Api-Key"] = []string{clientKey}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || n == 0 {
		tb.Fatalf("status %d, %d bytes, err %v", resp.StatusCode, n, err)
	}
}

func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, DisableCompression: true}}
}

var authKey = "auth: {keys: [{name: bench, key: " + clientKey + "}]}\n"

// benchCalls measures sequential calls to url: one call per iteration.
func benchCalls(b *testing.B, url, body string) {
	c := newClient()
	buf := make([]byte, 32<<10)
	for range 200 { // warm the connection pools and the log store
		call(b, c, url, body, buf)
	}
	b.ReportAllocs()
	for b.Loop() {
		call(b, c, url, body, buf)
	}
}

// BenchmarkDirect is the baseline: the client calling the upstream itself.
// Subtract it from BenchmarkGateway to get moat's own cost per call.
func BenchmarkDirect(b *testing.B) {
	benchCalls(b, directURL(startUpstream(b)), fixture.ChatRequest)
}

// BenchmarkBareProxy is the reference between the two: a bare
// httputil.ReverseProxy with moat's upstream pool settings, pooled copy
// buffers and a buffered request body (bench/proxy). BenchmarkGateway minus it is what moat's own
// stages cost.
func BenchmarkBareProxy(b *testing.B) {
	benchCalls(b, directURL(startBareProxy(b, startUpstream(b))), fixture.ChatRequest)
}

// startBareProxy runs the bare proxy of BenchmarkBareProxy in front of
// base and returns its base URL.
func startBareProxy(tb testing.TB, base string) string {
	target, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport:  &http.Transport{Proxy: nil, MaxIdleConns: 512, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second},
		BufferPool: newBufferPool(),
	}
	px := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	}))
	tb.Cleanup(px.Close)
	return px.URL
}

// bufferPool recycles the proxy's copy buffers, as moat does.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }

// BenchmarkGateway is one chat completion through moat with a static key
// and the SQLite request log, as bench/run.sh runs it.
func BenchmarkGateway(b *testing.B) {
	benchCalls(b, startMoat(b, startUpstream(b), authKey), fixture.ChatRequest)
}

// BenchmarkGatewayNoAuth is BenchmarkGateway with authentication disabled,
// to separate the identity layer's share.
func BenchmarkGatewayNoAuth(b *testing.B) {
	benchCalls(b, startMoat(b, startUpstream(b), "auth: {disabled: true}\n"), fixture.ChatRequest)
}

// BenchmarkGatewayLimits is BenchmarkGateway with a TPM and RPM limit per
// key and one per deployment, set far above what it reaches, to measure
// admission and settlement.
func BenchmarkGatewayLimits(b *testing.B) {
	limits := "rate_limits: {rules: [{name: per-key, scope: key, tpm: 1000000000, rpm: 1000000000}, " +
		"{name: per-deployment, scope: deployment, tpm: 1000000000}]}\n"
	benchCalls(b, startMoat(b, startUpstream(b), authKey+limits), fixture.ChatRequest)
}

// BenchmarkDirectStream is the streaming baseline.
func BenchmarkDirectStream(b *testing.B) {
	benchCalls(b, directURL(startUpstream(b)), fixture.StreamRequest)
}

// BenchmarkGatewayStream is one streamed chat completion (20 content
// events) through moat, which asks the upstream for usage and hides it.
func BenchmarkGatewayStream(b *testing.B) {
	benchCalls(b, startMoat(b, startUpstream(b), authKey), fixture.StreamRequest)
}

// TestHarness checks that the benchmarks' moat answers the benchmark call,
// plain and streamed, so a config change that breaks them fails in tests.
func TestHarness(t *testing.T) {
	url := startMoat(t, startUpstream(t), authKey)
	c := newClient()
	for _, tc := range []struct {
		name, body string
		want       []byte
	}{
		{name: "plain", body: fixture.ChatRequest, want: []byte(`"total_tokens":28`)},
		{name: "stream", body: fixture.StreamRequest, want: []byte("data: [DONE]")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(tc.body))
			req.Header.Set("Api-Key", clientKey)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !bytes.Contains(got, tc.want) {
				t.Fatalf("status %d, body %.300s; want 200 and %s", resp.StatusCode, got, tc.want)
			}
		})
	}
}
