// Package otlptest is an OTLP/HTTP receiver for tests: an httptest server
// that decodes /v1/traces and /v1/metrics protobuf bodies with the
// collector's own types and keeps them, with the raw bytes and headers, so
// tests can check both what was exported and what must never be.
package otlptest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Collector receives OTLP/HTTP exports.
type Collector struct {
	*httptest.Server

	mu       sync.Mutex
	traces   []*coltracepb.ExportTraceServiceRequest
	metrics  []*colmetricpb.ExportMetricsServiceRequest
	raw      [][]byte
	headers  []http.Header
	requests chan string // path of each request, for tests that wait for one
}

// New starts a Collector, closed when the test ends.
func New(t testing.TB) *Collector {
	t.Helper()
	c := &Collector{requests: make(chan string, 1024)}
	c.Server = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.Close)
	return c
}

func (c *Collector) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var resp proto.Message
	c.mu.Lock()
	switch r.URL.Path {
	case "/v1/traces":
		var req coltracepb.ExportTraceServiceRequest
		if err = proto.Unmarshal(body, &req); err == nil {
			c.traces = append(c.traces, &req)
		}
		resp = &coltracepb.ExportTraceServiceResponse{}
	case "/v1/metrics":
		var req colmetricpb.ExportMetricsServiceRequest
		if err = proto.Unmarshal(body, &req); err == nil {
			c.metrics = append(c.metrics, &req)
		}
		resp = &colmetricpb.ExportMetricsServiceResponse{}
	default:
		c.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	c.raw = append(c.raw, body)
	c.headers = append(c.headers, r.Header.Clone())
	c.mu.Unlock()
	if err != nil {
		http.Error(w, "undecodable protobuf: "+err.Error(), http.StatusBadRequest)
		return
	}
	select {
	case c.requests <- r.URL.Path:
	default:
	}
	b, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

// Requests delivers the path of each export received.
func (c *Collector) Requests() <-chan string { return c.requests }

// Span is one received span with its resource.
type Span struct {
	*tracepb.Span
	Resource *resourcepb.Resource
	Scope    *commonpb.InstrumentationScope
}

// Spans returns every span received, in arrival order.
func (c *Collector) Spans() []Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Span
	for _, req := range c.traces {
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					out = append(out, Span{Span: s, Resource: rs.Resource, Scope: ss.Scope})
				}
			}
		}
	}
	return out
}

// Metrics returns the metrics of the latest export, by name. Exports are
// cumulative, so the latest holds every total.
func (c *Collector) Metrics() map[string]*metricpb.Metric {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]*metricpb.Metric{}
	if len(c.metrics) == 0 {
		return out
	}
	for _, rm := range c.metrics[len(c.metrics)-1].ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				out[m.Name] = m
			}
		}
	}
	return out
}

// MetricResources returns the resource of every metrics export.
func (c *Collector) MetricResources() []*resourcepb.Resource {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*resourcepb.Resource
	for _, req := range c.metrics {
		for _, rm := range req.ResourceMetrics {
			out = append(out, rm.Resource)
		}
	}
	return out
}

// Contains reports whether any raw export body holds b. Strings travel
// verbatim in protobuf, so a secret exported anywhere would be found.
func (c *Collector) Contains(b []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, raw := range c.raw {
		if bytes.Contains(raw, b) {
			return true
		}
	}
	return false
}

// Headers returns the headers of every export request.
func (c *Collector) Headers() []http.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]http.Header(nil), c.headers...)
}

// Attrs flattens OTLP attributes into Go values: string, int64, float64,
// bool, or the proto value itself for other kinds.
func Attrs(kvs []*commonpb.KeyValue) map[string]any {
	out := map[string]any{}
	for _, kv := range kvs {
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			out[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			out[kv.Key] = v.IntValue
		case *commonpb.AnyValue_DoubleValue:
			out[kv.Key] = v.DoubleValue
		case *commonpb.AnyValue_BoolValue:
			out[kv.Key] = v.BoolValue
		default:
			out[kv.Key] = kv.Value
		}
	}
	return out
}
