package gateway

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/moat-gw/moat/internal/simulator"
	"github.com/moat-gw/moat/internal/telemetry/otlptest"
	"github.com/moat-gw/moat/internal/tokens"
)

// Secrets that must never reach an export.
const (
	otelClientKey     = "client-key-0123456789abcdef0123456789abcdef"
	otelUpstreamKey   = "upstream-key-0123456789abcdef0123456789abc"
	otelBearer        = "bearer-token-0123456789abcdef0123456789ab"
	otelCollectorAuth = "collector-token-0123456789abcdef012345678"
	otelPrompt        = "the secret prompt text"
)

// tracedSim is a simulated Azure resource that records the traceparent of
// every request moat sends it.
type tracedSim struct {
	*httptest.Server
	mu           sync.Mutex
	traceparents []string
}

func startTracedSim(t *testing.T, f simulator.Faults) *tracedSim {
	t.Helper()
	sim, err := simulator.New(simulator.Options{
		Deployments: []simulator.Deployment{
			{Name: "gpt-4o-mini", Model: "gpt-4o-mini"},
			{Name: "text-embedding-3-small", Model: "text-embedding-3-small", Kind: simulator.KindEmbeddings},
		},
		Faults: f, Seed: 7, APIKey: otelUpstreamKey,
	}, tokens.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := &tracedSim{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.traceparents = append(ts.traceparents, r.Header.Get("Traceparent"))
		ts.mu.Unlock()
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (s *tracedSim) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.traceparents...)
}

// telemetryConfig is a gateway in front of sim, exporting to endpoint.
func telemetryConfig(sim, endpoint, extra string) string {
	return fmt.Sprintf(`
upstreams:
  - {name: aoai, type: azure, endpoint: '%s', api_key: %s}
deployments:
  - {name: gpt-4o-mini, upstreams: [{upstream: aoai}]}
  - {name: text-embedding-3-small, upstreams: [{upstream: aoai}]}
auth:
  keys: [{name: app1, key: %s}]
telemetry:
  endpoint: '%s'
  headers: {Authorization: 'Bearer %s'}
  export_interval: 1h
  resource_attributes: {deployment.environment.name: test}
%s`, sim, otelUpstreamKey, otelClientKey, endpoint, otelCollectorAuth, extra)
}

// flushTelemetry exports what moat has recorded so far. A client can read
// the whole answer before moat's handler has finished the call, so it first
// waits for the calls in flight to end.
func flushTelemetry(t *testing.T, ts *testServer) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ts.inflight.Load() != 0; {
		if time.Now().After(deadline) {
			t.Fatal("calls still in flight")
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.tel.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
}

type usage struct {
	Prompt     int64 `json:"prompt_tokens"`
	Completion int64 `json:"completion_tokens"`
}

// usageOf reads usage from a JSON body or, for a stream, its usage chunk.
func usageOf(t *testing.T, body string) usage {
	t.Helper()
	var v struct{ Usage *usage }
	if json.Unmarshal([]byte(body), &v) == nil && v.Usage != nil {
		return *v.Usage
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if ok && json.Unmarshal([]byte(data), &v) == nil && v.Usage != nil {
			return *v.Usage
		}
	}
	t.Fatalf("no usage in %s", body)
	return usage{}
}

// TestTelemetryExport drives a real gateway against a simulated Azure
// resource and checks what a real OTLP receiver decodes: GenAI spans and
// metrics, trace context in and out, and no secret anywhere.
func TestTelemetryExport(t *testing.T) {
	col := otlptest.New(t)
	sim := startTracedSim(t, simulator.Faults{})
	ts := startServer(t, telemetryConfig(sim.URL, col.URL, ""))
	_, simPort, _ := net.SplitHostPort(strings.TrimPrefix(sim.URL, "http://"))

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	chatURL := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
	prompt := `"messages":[{"role":"user","content":"` + otelPrompt + `"}],"max_tokens":12`
	calls := []struct {
		name, url, body string
		hdr             []string
		status          int
	}{
		{"chat", chatURL, `{` + prompt + `}`,
			[]string{"api-key", otelClientKey, "traceparent", "00-" + traceID + "-" + parentID + "-01", "tracestate", "k=v"}, 200},
		{"stream", chatURL, `{"stream":true,"stream_options":{"include_usage":true},` + prompt + `}`, []string{"api-key", otelClientKey}, 200},
		{"embeddings", ts.url + "/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21",
			`{"input":"` + otelPrompt + `"}`, []string{"api-key", otelClientKey}, 200},
		{"bad bearer", chatURL, `{` + prompt + `}`, []string{"Authorization", "Bearer " + otelBearer}, 401},
	}
	ids := map[string]string{}   // call name → request ID
	usages := map[string]usage{} // call name → usage the client saw
	for _, c := range calls {
		status, h, body := do(t, "POST", c.url, c.body, c.hdr...)
		if status != c.status {
			t.Fatalf("%s: %d %s", c.name, status, body)
		}
		ids[c.name] = h.Get("Apim-Request-Id")
		if status == 200 {
			usages[c.name] = usageOf(t, body)
		}
	}
	flushTelemetry(t, ts)
	recs := ts.records() // stops moat: its shutdown flush must not duplicate spans

	spans := map[string]otlptest.Span{}
	for _, s := range col.Spans() {
		spans[otlptest.Attrs(s.Attributes)["moat.request_id"].(string)] = s
	}
	if len(spans) != len(calls) || len(col.Spans()) != len(calls) {
		t.Fatalf("%d spans (%d distinct) for %d calls", len(col.Spans()), len(spans), len(calls))
	}
	callers := map[string]string{}
	for _, r := range recs {
		callers[r.RequestID] = r.Caller
	}
	for _, c := range calls[:3] {
		s := spans[ids[c.name]]
		a := otlptest.Attrs(s.Attributes)
		op, dep := "chat", "gpt-4o-mini"
		if c.name == "embeddings" {
			op, dep = "embeddings", "text-embedding-3-small"
		}
		if s.Name != op+" "+dep || s.Kind != tracepb.Span_SPAN_KIND_SERVER || s.Status.GetCode() != tracepb.Status_STATUS_CODE_UNSET {
			t.Errorf("%s: name %q kind %v status %v", c.name, s.Name, s.Kind, s.Status)
		}
		want := map[string]any{
			"gen_ai.operation.name": op, "gen_ai.provider.name": "azure.ai.openai",
			"gen_ai.request.model": dep, "gen_ai.response.model": dep,
			"gen_ai.usage.input_tokens": usages[c.name].Prompt,
			"server.address":            "127.0.0.1", "server.port": mustInt64(t, simPort),
			"http.response.status_code": int64(200), "moat.upstream": "aoai", "moat.attempts": int64(1),
			"moat.caller": callers[ids[c.name]], "moat.streamed": c.name == "stream", "moat.tokens_estimated": false,
		}
		if op == "chat" {
			want["gen_ai.usage.output_tokens"] = usages[c.name].Completion
		}
		for k, v := range want {
			if a[k] != v {
				t.Errorf("%s: %s = %v (%T), want %v (%T)", c.name, k, a[k], a[k], v, v)
			}
		}
		if _, ok := a["gen_ai.response.time_to_first_chunk"]; ok != (c.name == "stream") {
			t.Errorf("%s: time_to_first_chunk present = %v", c.name, ok)
		}
		if res := otlptest.Attrs(s.Resource.Attributes); res["service.name"] != "moat" || res["service.version"] != "test" ||
			res["deployment.environment.name"] != "test" || res["service.instance.id"] == nil {
			t.Errorf("resource %v", res)
		}
	}
	if callers[ids["chat"]] == "" {
		t.Error("no caller ID in the request log to compare with")
	}

	// Trace context: the chat call joins the client's trace, and the
	// upstream saw the chat span as its parent.
	chat := spans[ids["chat"]]
	if hex.EncodeToString(chat.TraceId) != traceID || hex.EncodeToString(chat.ParentSpanId) != parentID || chat.TraceState != "k=v" {
		t.Errorf("chat span trace %x parent %x state %q", chat.TraceId, chat.ParentSpanId, chat.TraceState)
	}
	seen := sim.seen()
	if len(seen) != 3 {
		t.Fatalf("upstream saw %d calls", len(seen))
	}
	for i, name := range []string{"chat", "stream", "embeddings"} {
		s := spans[ids[name]]
		if want := "00-" + hex.EncodeToString(s.TraceId) + "-" + hex.EncodeToString(s.SpanId) + "-01"; seen[i] != want {
			t.Errorf("%s: upstream traceparent %q, want %q", name, seen[i], want)
		}
	}
	if s := spans[ids["stream"]]; len(s.ParentSpanId) != 0 {
		t.Errorf("call without traceparent has parent %x", s.ParentSpanId)
	}

	// A call refused before routing is still traced, without GenAI attributes.
	bad := spans[ids["bad bearer"]]
	if a := otlptest.Attrs(bad.Attributes); bad.Name != "POST" || a["error.type"] != "client_auth" ||
		a["http.response.status_code"] != int64(401) || a["gen_ai.operation.name"] != nil {
		t.Errorf("refused call: %q %v", bad.Name, a)
	}

	// Metrics: GenAI names, units and token sums equal to the usage clients saw.
	ms := col.Metrics()
	var in, out int64
	for _, u := range usages {
		in += u.Prompt
		out += u.Completion
	}
	tok := ms["gen_ai.client.token.usage"]
	sums := map[string]float64{}
	for _, dp := range tok.GetHistogram().GetDataPoints() {
		a := otlptest.Attrs(dp.Attributes)
		sums[a["gen_ai.token.type"].(string)] += dp.GetSum()
		if _, ok := a["moat.caller"]; ok || a["gen_ai.provider.name"] != "azure.ai.openai" || a["server.address"] != "127.0.0.1" {
			t.Errorf("token usage attributes %v", a)
		}
	}
	if tok.GetUnit() != "{token}" || sums["input"] != float64(in) || sums["output"] != float64(out) {
		t.Errorf("token usage unit %q sums %v, want input %d output %d", tok.GetUnit(), sums, in, out)
	}
	counts := func(name string) (n uint64) {
		for _, dp := range ms[name].GetHistogram().GetDataPoints() {
			n += dp.GetCount()
		}
		return n
	}
	if d := ms["gen_ai.server.request.duration"]; d.GetUnit() != "s" || counts(d.Name) != 3 {
		t.Errorf("request duration unit %q count %d (the refused call is not a GenAI operation)", d.GetUnit(), counts(d.GetName()))
	}
	if d := ms["gen_ai.server.time_to_first_token"]; d.GetUnit() != "s" || counts(d.Name) != 1 {
		t.Errorf("time to first token unit %q count %d (streams only)", d.GetUnit(), counts(d.GetName()))
	}

	// Nothing secret or private left moat: not the keys, not the bearer
	// token, not the collector's own credential, not the prompt.
	for _, secret := range []string{otelClientKey, otelUpstreamKey, otelBearer, otelCollectorAuth, otelPrompt} {
		if col.Contains([]byte(secret)) {
			t.Errorf("export contains %q", secret)
		}
	}
	for _, h := range col.Headers() {
		if h.Get("Authorization") != "Bearer "+otelCollectorAuth {
			t.Errorf("export without the configured header")
		}
	}
}

func mustInt64(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTelemetryUpstreamFailure: an upstream 500 is an Error span with the
// error kind as error.type, on the span and the duration metric.
func TestTelemetryUpstreamFailure(t *testing.T) {
	col := otlptest.New(t)
	sim := startTracedSim(t, simulator.Faults{ErrorRate: 1})
	ts := startServer(t, telemetryConfig(sim.URL, col.URL, ""))
	status, h, _ := do(t, "POST", ts.url+"/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
		chatBody, "api-key", otelClientKey)
	if status != 500 {
		t.Fatalf("status %d", status)
	}
	flushTelemetry(t, ts)
	spans := col.Spans()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	a := otlptest.Attrs(s.Attributes)
	if s.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || a["error.type"] != "upstream_error" ||
		a["http.response.status_code"] != int64(500) || a["moat.upstream.status_code"] != int64(500) ||
		a["moat.request_id"] != h.Get("Apim-Request-Id") {
		t.Errorf("status %v attributes %v", s.Status, a)
	}
	if _, ok := a["gen_ai.response.model"]; ok {
		t.Error("response model on a call no model answered")
	}
	dps := col.Metrics()["gen_ai.server.request.duration"].GetHistogram().GetDataPoints()
	if len(dps) != 1 || otlptest.Attrs(dps[0].Attributes)["error.type"] != "upstream_error" {
		t.Errorf("duration points %v", dps)
	}
}

// TestTelemetryCollectorUnavailable: a collector that is down or hangs
// costs calls nothing; export failures are counted and shutdown completes.
func TestTelemetryCollectorUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := "http://" + ln.Addr().String()
	ln.Close()
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so the server notices when the exporter gives up
		// Never answer.
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hung.Close()
	defer close(release)
	sim := startTracedSim(t, simulator.Faults{})
	tests := []struct{ name, endpoint string }{{"down", closedPort}, {"hangs", hung.URL}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, telemetryConfig(sim.URL, tt.endpoint, "  timeout: 300ms\n  queue_size: 8\n"))
			chatURL := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
			for i := range 20 {
				body := chatBody
				if i%2 == 1 {
					body = `{"stream":true,"messages":[{"role":"user","content":"hi"}],"max_tokens":5}`
				}
				if status, _, resp := do(t, "POST", chatURL, body, "api-key", otelClientKey); status != 200 {
					t.Fatalf("call %d: %d %s", i, status, resp)
				}
			}
			flushTelemetry(t, ts) // the export fails; what matters is that it is counted
			st := ts.tel.Stats()
			if st.SpansExported != 0 || st.SpansDropped+st.SpansFailed == 0 || st.TraceExportErrors == 0 || st.MetricExportErrors == 0 {
				t.Fatalf("stats %+v", st)
			}
			if n := promCounter(t, ts, "moat_otel_export_errors_total", "signal", "traces"); n == 0 {
				t.Error("moat_otel_export_errors_total{signal=traces} is 0")
			}
			if n := promCounter(t, ts, "moat_otel_spans_dropped_total", "reason", "export_failed") +
				promCounter(t, ts, "moat_otel_spans_dropped_total", "reason", "queue_full"); n == 0 {
				t.Error("no lost span counted in moat_otel_spans_dropped_total")
			}
			ts.stop() // Shutdown must return, and without an error: the calls were served
			if recs := ts.records(); len(recs) != 20 {
				t.Fatalf("%d records", len(recs))
			}
		})
	}
}

// promCounter reads one counter series from moat's registry.
func promCounter(t *testing.T, ts *testServer, name, label, value string) float64 {
	t.Helper()
	mfs, err := ts.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, value)
	return 0
}

// TestTelemetryReload: the exporter lives as long as the process. A reload
// that keeps the telemetry section works and keeps exporting; one that
// changes it is refused and the running config stays.
func TestTelemetryReload(t *testing.T) {
	col := otlptest.New(t)
	sim := startTracedSim(t, simulator.Faults{})
	base := telemetryConfig(sim.URL, col.URL, "") +
		"listeners: [{name: data, address: '127.0.0.1:0'}]\n" +
		"management: {listeners: [{name: mgmt, address: '127.0.0.1:0', kind: private_endpoint}]}\n"
	ts := startServer(t, base)
	withDir := func(y string) string {
		return y + "\ndata_dir: " + ts.cfg.Load().DataDir + "\nshutdown: {grace_period: 5s, pre_stop: 0s}\n"
	}
	if err := ts.Reload(mustConfig(t, withDir(base+"network: {public_network_access: enabled}\n"))); err != nil {
		t.Fatalf("reload with the same telemetry: %v", err)
	}
	changed := strings.Replace(base, "export_interval: 1h", "export_interval: 30m", 1)
	if err := ts.Reload(mustConfig(t, withDir(changed))); err == nil || !strings.Contains(err.Error(), "telemetry changed") {
		t.Fatalf("reload that changes telemetry: %v", err)
	}
	url := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
	if status, _, body := do(t, "POST", url, chatBody, "api-key", otelClientKey); status != 200 {
		t.Fatalf("after reload: %d %s", status, body)
	}
	flushTelemetry(t, ts)
	if n := len(col.Spans()); n != 1 {
		t.Fatalf("%d spans after reload", n)
	}
}

// TestTelemetryOffLeavesTraceparent: without telemetry moat sends nothing
// anywhere and forwards the client's traceparent untouched, as before.
func TestTelemetryOffLeavesTraceparent(t *testing.T) {
	sim := startTracedSim(t, simulator.Faults{})
	cfg := strings.Split(telemetryConfig(sim.URL, "", ""), "telemetry:")[0]
	ts := startServer(t, cfg)
	if ts.tel != nil {
		t.Fatal("telemetry running without an endpoint")
	}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	status, _, body := do(t, "POST", ts.url+"/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
		chatBody, "api-key", otelClientKey, "traceparent", tp)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if seen := sim.seen(); len(seen) != 1 || seen[0] != tp {
		t.Fatalf("upstream saw %q", seen)
	}
}
