package telemetry

import (
	"context"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/moat-gw/moat/internal/telemetry/otlptest"
)

func newTelemetry(t *testing.T, o Options) *Telemetry {
	t.Helper()
	if o.SampleRatio == 0 {
		o.SampleRatio = 1
	}
	if o.ServiceName == "" {
		o.ServiceName = "moat"
	}
	tel, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(ctx)
	})
	return tel
}

func flush(t *testing.T, tel *Telemetry) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
}

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func chatCall() Call {
	return Call{
		Start: t0, End: t0.Add(1500 * time.Millisecond), FirstByte: t0.Add(200 * time.Millisecond), FirstToken: t0.Add(200 * time.Millisecond),
		RequestID: "r1", Method: "POST", Operation: "chat", Provider: "azure.ai.openai",
		Deployment: "gpt-4o", Model: "gpt-4o-2024-08-06", Upstream: "aoai-east",
		ServerAddress: "contoso.openai.azure.com", ServerPort: 443,
		Status: 200, UpstreamStatus: 200, InputTokens: 11, OutputTokens: 7, HasUsage: true,
		Streamed: true, Caller: "key-app01", Attempts: 1,
	}
}

// TestSpanAndMetrics runs the exporter against a real OTLP/HTTP receiver and
// checks the span and metrics as the collector decodes them.
func TestSpanAndMetrics(t *testing.T) {
	col := otlptest.New(t)
	tel := newTelemetry(t, Options{Endpoint: col.URL, Traces: true, Metrics: true, ServiceVersion: "1.2.3",
		InstanceID: "i-1", ResourceAttributes: map[string]string{"deployment.environment.name": "test"},
		Headers: map[string]string{"X-Collector-Token": "collector-secret"}})

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	in := http.Header{}
	in.Set("Traceparent", "00-"+traceID+"-"+parentID+"-01")
	in.Set("Tracestate", "vendor=x")
	span := tel.Start(context.Background(), in, t0)
	out := http.Header{}
	out.Set("Traceparent", "00-"+traceID+"-"+parentID+"-01") // the client's, forwarded
	tel.Inject(span, out)
	c := chatCall()
	tel.Finish(span, c)
	flush(t, tel)

	spans := col.Spans()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	if s.Name != "chat gpt-4o" || s.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("name %q kind %v", s.Name, s.Kind)
	}
	if hex.EncodeToString(s.TraceId) != traceID || hex.EncodeToString(s.ParentSpanId) != parentID || s.TraceState != "vendor=x" {
		t.Errorf("trace %x parent %x state %q", s.TraceId, s.ParentSpanId, s.TraceState)
	}
	if want := "00-" + traceID + "-" + hex.EncodeToString(s.SpanId) + "-01"; out.Get("Traceparent") != want || out.Get("Tracestate") != "vendor=x" {
		t.Errorf("injected %q %q, want %q", out.Get("Traceparent"), out.Get("Tracestate"), want)
	}
	if s.StartTimeUnixNano != uint64(t0.UnixNano()) || s.EndTimeUnixNano != uint64(c.End.UnixNano()) {
		t.Errorf("times %d %d", s.StartTimeUnixNano, s.EndTimeUnixNano)
	}
	want := map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "azure.ai.openai",
		"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
		"gen_ai.usage.input_tokens": int64(11), "gen_ai.usage.output_tokens": int64(7),
		"gen_ai.response.time_to_first_chunk": 0.2, "openai.api.type": "chat_completions",
		"server.address": "contoso.openai.azure.com", "server.port": int64(443),
		"http.request.method": "POST", "http.response.status_code": int64(200),
		"moat.request_id": "r1", "moat.deployment": "gpt-4o", "moat.upstream": "aoai-east",
		"moat.upstream.status_code": int64(200), "moat.caller": "key-app01", "moat.attempts": int64(1),
		"moat.streamed": true, "moat.tokens_estimated": false, "moat.operation": "chat",
		"moat.time_to_first_byte_ms": 200.0,
	}
	if d := cmp.Diff(want, otlptest.Attrs(s.Attributes)); d != "" {
		t.Errorf("span attributes (-want +got):\n%s", d)
	}
	res := otlptest.Attrs(s.Resource.Attributes)
	for k, v := range map[string]any{"service.name": "moat", "service.version": "1.2.3", "service.instance.id": "i-1",
		"deployment.environment.name": "test", "telemetry.sdk.language": "go"} {
		if res[k] != v {
			t.Errorf("resource %s = %v, want %v", k, res[k], v)
		}
	}

	ms := col.Metrics()
	checkHistogram(t, ms, "gen_ai.server.request.duration", "s", durationBuckets, map[string]float64{"": 1.5})
	checkHistogram(t, ms, "gen_ai.server.time_to_first_token", "s", ttftBuckets, map[string]float64{"": 0.2})
	checkHistogram(t, ms, "gen_ai.client.token.usage", "{token}", tokenBuckets, map[string]float64{"input": 11, "output": 7})
	dp := ms["gen_ai.server.request.duration"].GetHistogram().DataPoints[0]
	wantAttrs := map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "azure.ai.openai",
		"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
		"server.address": "contoso.openai.azure.com", "server.port": int64(443)}
	if d := cmp.Diff(wantAttrs, otlptest.Attrs(dp.Attributes)); d != "" {
		t.Errorf("metric attributes (-want +got):\n%s", d)
	}
	for _, h := range col.Headers() {
		if h.Get("X-Collector-Token") != "collector-secret" {
			t.Errorf("export without the configured header: %v", h)
		}
	}
}

// checkHistogram checks a histogram's unit, bounds and sums by
// gen_ai.token.type ("" when the metric has none).
func checkHistogram(t *testing.T, ms map[string]*metricpb.Metric, name, unit string, bounds []float64, sums map[string]float64) {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		t.Errorf("no metric %s", name)
		return
	}
	if m.Unit != unit {
		t.Errorf("%s unit %q, want %q", name, m.Unit, unit)
	}
	got := map[string]float64{}
	for _, dp := range m.GetHistogram().GetDataPoints() {
		if !cmp.Equal(dp.ExplicitBounds, bounds) {
			t.Errorf("%s bounds %v", name, dp.ExplicitBounds)
		}
		tt, _ := otlptest.Attrs(dp.Attributes)["gen_ai.token.type"].(string)
		got[tt] += dp.GetSum()
	}
	if d := cmp.Diff(sums, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })); d != "" {
		t.Errorf("%s sums (-want +got):\n%s", name, d)
	}
}

func TestFailedCall(t *testing.T) {
	col := otlptest.New(t)
	tel := newTelemetry(t, Options{Endpoint: col.URL, Traces: true, Metrics: true})
	c := chatCall()
	c.Streamed, c.FirstByte, c.FirstToken, c.HasUsage = false, time.Time{}, time.Time{}, false
	c.Status, c.UpstreamStatus, c.ErrorKind = 500, 500, "upstream_error"
	tel.Finish(tel.Start(context.Background(), http.Header{}, t0), c)
	refused := Call{Start: t0, End: t0.Add(time.Millisecond), Method: "POST", Status: 401, ErrorKind: "client_auth"}
	tel.Finish(tel.Start(context.Background(), http.Header{}, t0), refused)
	flush(t, tel)
	spans := col.Spans()
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	a := otlptest.Attrs(s.Attributes)
	if s.Status.Code != tracepb.Status_STATUS_CODE_ERROR || s.Status.Message != "upstream_error" || a["error.type"] != "upstream_error" {
		t.Errorf("status %v attrs %v", s.Status, a)
	}
	if _, ok := a["gen_ai.response.model"]; ok {
		t.Error("response model on a call the upstream failed")
	}
	// A refusal before routing is a POST span with no GenAI attributes, not an error of moat's.
	s = spans[1]
	a = otlptest.Attrs(s.Attributes)
	if s.Name != "POST" || s.Status.Code != tracepb.Status_STATUS_CODE_UNSET || a["error.type"] != "client_auth" || a["gen_ai.operation.name"] != nil {
		t.Errorf("refused call: %q %v %v", s.Name, s.Status, a)
	}
	ms := col.Metrics()
	dps := ms["gen_ai.server.request.duration"].GetHistogram().GetDataPoints()
	if len(dps) != 1 || otlptest.Attrs(dps[0].Attributes)["error.type"] != "upstream_error" {
		t.Fatalf("duration points %v", dps)
	}
	if _, ok := ms["gen_ai.client.token.usage"]; ok {
		t.Error("token usage recorded without usage")
	}
	if _, ok := ms["gen_ai.server.time_to_first_token"]; ok {
		t.Error("time to first token recorded for a failed call")
	}
}

func TestSampling(t *testing.T) {
	col := otlptest.New(t)
	tel, err := New(context.Background(), Options{Endpoint: col.URL, Traces: true, SampleRatio: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	root := tel.Start(context.Background(), http.Header{}, t0)
	tel.Finish(root, chatCall())
	// Unsampled, yet its IDs still travel so the upstream can follow the parent's decision.
	out := http.Header{}
	tel.Inject(root, out)
	if !strings.HasSuffix(out.Get("Traceparent"), "-00") {
		t.Errorf("unsampled traceparent %q", out.Get("Traceparent"))
	}
	in := http.Header{}
	in.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	tel.Finish(tel.Start(context.Background(), in, t0), chatCall())
	flush(t, tel)
	if spans := col.Spans(); len(spans) != 1 || hex.EncodeToString(spans[0].TraceId) != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("want only the sampled parent's child, got %d spans", len(spans))
	}
}

// TestQueueFullDropsAndCounts: while the collector hangs on one export,
// finishing calls never blocks; spans beyond the queue are dropped and counted.
func TestQueueFullDropsAndCounts(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 16)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer hang.Close()
	defer unblock()
	tel, err := New(context.Background(), Options{Endpoint: hang.URL, Traces: true, SampleRatio: 1, QueueSize: 4, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tel.Finish(tel.Start(context.Background(), http.Header{}, t0), chatCall())
	flushCtx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_ = tel.ForceFlush(flushCtx) // starts the export that hangs
	cancel()
	<-arrived
	for range 100 {
		tel.Finish(tel.Start(context.Background(), http.Header{}, t0), chatCall())
	}
	if st := tel.Stats(); st.SpansDropped != 96 {
		t.Fatalf("dropped %d, want 96 (100 minus a queue of 4)", st.SpansDropped)
	}
	// Shutdown gives up on the hung export when its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := tel.Shutdown(ctx); err == nil {
		t.Fatal("shutdown against a hung collector reported success")
	}
	unblock()
	if st := tel.Stats(); st.SpansExported != 0 || st.SpansFailed != 5 || st.TraceExportErrors == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestCollectorDown: a closed port costs nothing but counted errors.
func TestCollectorDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tel := newTelemetry(t, Options{Endpoint: "http://" + addr, Traces: true, Metrics: true, Timeout: 2 * time.Second})
	for range 10 {
		tel.Finish(tel.Start(context.Background(), http.Header{}, t0), chatCall())
	}
	flush(t, tel)
	st := tel.Stats()
	if st.SpansFailed != 10 || st.TraceExportErrors == 0 || st.MetricExportErrors == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		name               string
		call               Call
		span, op, provider string
	}{
		{"chat", Call{Operation: "chat", Deployment: "gpt-4o", Provider: "azure.ai.openai"}, "chat gpt-4o", "chat", "azure.ai.openai"},
		{"responses is chat", Call{Operation: "responses", Deployment: "o4", Provider: "openai"}, "chat o4", "chat", "openai"},
		{"messages is chat", Call{Operation: "messages", Deployment: "claude", Provider: "anthropic"}, "chat claude", "chat", "anthropic"},
		{"completions", Call{Operation: "completions", Deployment: "d", Provider: "openai"}, "text_completion d", "text_completion", "openai"},
		{"embeddings", Call{Operation: "embeddings", Deployment: "e", Provider: "azure.ai.openai"}, "embeddings e", "embeddings", "azure.ai.openai"},
		{"images keeps moat's name", Call{Operation: "images", Deployment: "dalle"}, "images dalle", "images", ""},
		{"operation without deployment", Call{Operation: "chat"}, "chat", "chat", ""},
		{"model list is not GenAI", Call{Operation: "models", Method: "GET"}, "GET", "", ""},
		{"refused before routing", Call{Method: "POST"}, "POST", "", ""},
		{"nothing known", Call{}, "moat", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.call.SpanName(); got != tt.span {
				t.Errorf("SpanName() = %q, want %q", got, tt.span)
			}
			if got := OperationName(tt.call.Operation); got != tt.op {
				t.Errorf("OperationName() = %q, want %q", got, tt.op)
			}
			if got := tt.call.Provider; got != tt.provider {
				t.Errorf("Provider = %q, want %q", got, tt.provider)
			}
		})
	}
}

// TestTracesOff: with traces off, Start returns no span and Inject leaves
// the client's traceparent alone; metrics still flow.
func TestTracesOff(t *testing.T) {
	col := otlptest.New(t)
	tel := newTelemetry(t, Options{Endpoint: col.URL, Metrics: true})
	span := tel.Start(context.Background(), http.Header{}, t0)
	if span != nil {
		t.Fatal("span with traces off")
	}
	h := http.Header{}
	h.Set("Traceparent", "client")
	tel.Inject(span, h)
	if h.Get("Traceparent") != "client" {
		t.Fatal("traceparent changed with traces off")
	}
	tel.Finish(span, chatCall())
	flush(t, tel)
	if len(col.Spans()) != 0 || col.Metrics()["gen_ai.server.request.duration"] == nil {
		t.Fatalf("spans %d metrics %v", len(col.Spans()), col.Metrics())
	}
}
