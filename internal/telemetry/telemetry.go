// Package telemetry exports moat's calls to an OpenTelemetry collector over
// OTLP/HTTP (protobuf): one SERVER span per call and the GenAI metrics, both
// named after the OpenTelemetry GenAI semantic conventions (semconv v1.41.0,
// the newest release in go.opentelemetry.io/otel that still carries them).
//
// Export never touches the data plane's latency: spans wait in a bounded
// queue drained by one goroutine (a full queue drops and counts), metrics are
// aggregated in memory and pushed by the SDK's periodic reader, and both go
// through an HTTP client that reads no proxy from the environment. Nothing
// here knows about moat's gateway: the gateway fills a Call and hands it over.
package telemetry

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// Options configure the exporter. The gateway fills them from config.
type Options struct {
	// Endpoint is the collector's OTLP/HTTP base URL; /v1/traces and
	// /v1/metrics are appended.
	Endpoint string
	// Traces and Metrics select the signals exported.
	Traces, Metrics bool
	// Headers are sent with every export request.
	Headers map[string]string
	// Timeout bounds one export request. Default 10s.
	Timeout time.Duration
	// ExportInterval is the metrics push period. Default 60s.
	ExportInterval time.Duration
	// CAFile adds a PEM bundle to the system roots for an https endpoint.
	CAFile string
	// InsecureSkipVerify skips certificate checks (tests only).
	InsecureSkipVerify bool
	// ServiceName, ServiceVersion and InstanceID name this process in the
	// resource; an empty InstanceID gets a random UUID.
	ServiceName, ServiceVersion, InstanceID string
	// ResourceAttributes are added to the resource.
	ResourceAttributes map[string]string
	// SampleRatio is the share of root traces recorded; calls with a
	// traceparent follow their parent.
	SampleRatio float64
	// QueueSize bounds spans waiting for export. Default 2048.
	QueueSize int
	// BatchTimeout is the longest a span waits for its batch. Default 2s.
	BatchTimeout time.Duration
	// Logger receives export failures, at most one line per signal a minute.
	Logger *slog.Logger
}

// Telemetry is a running exporter. Its methods are safe for concurrent use.
type Telemetry struct {
	tracer trace.Tracer // nil when traces are off
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
	queue  *spanQueue
	inst   *instruments // nil when metrics are off
	prop   propagation.TextMapPropagator
	errs   *errorLog
}

// scope is the instrumentation scope moat's spans and metrics carry.
const scope = "github.com/moat-gw/moat/internal/telemetry"

// New builds the exporters and starts their background work. It does not
// connect: a collector that is down only shows in Stats and the log.
func New(ctx context.Context, o Options) (*Telemetry, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.ExportInterval <= 0 {
		o.ExportInterval = 60 * time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 2048
	}
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = 2 * time.Second
	}
	if o.InstanceID == "" {
		o.InstanceID = newUUID()
	}
	client, err := httpClient(o)
	if err != nil {
		return nil, err
	}
	res := newResource(o)
	base := strings.TrimRight(o.Endpoint, "/")
	// Every exporter setting is passed explicitly, so no OTEL_EXPORTER_OTLP_*
	// variable in moat's environment can redirect or reshape the export.
	headers := map[string]string{}
	for k, v := range o.Headers {
		headers[k] = v
	}
	t := &Telemetry{prop: propagation.TraceContext{}, errs: newErrorLog(o.Logger, time.Minute)}
	if o.Traces {
		exp, err := otlptracehttp.New(ctx,
			otlptracehttp.WithEndpointURL(base+"/v1/traces"),
			otlptracehttp.WithHTTPClient(client),
			otlptracehttp.WithHeaders(headers),
			otlptracehttp.WithEncoding(otlptracehttp.EncodingProtobuf),
			otlptracehttp.WithCompression(otlptracehttp.NoCompression),
			otlptracehttp.WithTimeout(o.Timeout),
			otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 500 * time.Millisecond,
				MaxInterval: 5 * time.Second, MaxElapsedTime: o.Timeout}))
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		t.queue = newSpanQueue(exp, o.QueueSize, o.BatchTimeout, o.Timeout, t.errs)
		t.tp = sdktrace.NewTracerProvider(
			sdktrace.WithResource(res),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SampleRatio))),
			sdktrace.WithSpanProcessor(t.queue))
		t.tracer = t.tp.Tracer(scope, trace.WithInstrumentationVersion(o.ServiceVersion), trace.WithSchemaURL(semconv.SchemaURL))
	}
	if o.Metrics {
		exp, err := otlpmetrichttp.New(ctx,
			otlpmetrichttp.WithEndpointURL(base+"/v1/metrics"),
			otlpmetrichttp.WithHTTPClient(client),
			otlpmetrichttp.WithHeaders(headers),
			otlpmetrichttp.WithCompression(otlpmetrichttp.NoCompression),
			otlpmetrichttp.WithTimeout(o.Timeout),
			otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: true, InitialInterval: 500 * time.Millisecond,
				MaxInterval: 5 * time.Second, MaxElapsedTime: o.Timeout}))
		if err != nil {
			_ = t.shutdownTraces(ctx)
			return nil, fmt.Errorf("otlp metric exporter: %w", err)
		}
		reader := sdkmetric.NewPeriodicReader(&metricExporter{Exporter: exp, errs: t.errs},
			sdkmetric.WithInterval(o.ExportInterval), sdkmetric.WithTimeout(o.Timeout))
		t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
		meter := t.mp.Meter(scope, metric.WithInstrumentationVersion(o.ServiceVersion), metric.WithSchemaURL(semconv.SchemaURL))
		if t.inst, err = newInstruments(meter); err != nil {
			_ = t.shutdownTraces(ctx)
			_ = t.mp.Shutdown(ctx)
			return nil, err
		}
	}
	return t, nil
}

// httpClient is the exporters' client: bounded, TLS as configured, and no
// proxy from HTTP_PROXY (a closed network has none to reach the collector).
func httpClient(o Options) (*http.Client, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipVerify} //nolint:gosec // opt-in, documented as tests only
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("telemetry: read ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("telemetry: ca_file holds no PEM certificate")
		}
		tlsCfg.RootCAs = pool
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: o.Timeout,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: o.Timeout}, nil
}

// newResource describes this process. It reads no OTEL_RESOURCE_ATTRIBUTES:
// what moat says about itself comes from its config. (The SDK's own
// detectors are left out too: they carry a newer schema URL than the GenAI
// conventions moat follows.)
func newResource(o Options) *resource.Resource {
	attrs := []attribute.KeyValue{
		semconv.ServiceName(o.ServiceName),
		semconv.ServiceVersion(o.ServiceVersion),
		semconv.ServiceInstanceID(o.InstanceID),
		semconv.TelemetrySDKName("opentelemetry"),
		semconv.TelemetrySDKLanguageGo,
		semconv.TelemetrySDKVersion(sdk.Version()),
	}
	for k, v := range o.ResourceAttributes {
		attrs = append(attrs, attribute.String(k, v))
	}
	return resource.NewWithAttributes(semconv.SchemaURL, attrs...)
}

// Start begins the span of a call that arrived with headers h at start. A
// W3C traceparent (and tracestate) in h makes it a child of the caller's
// span. It returns nil when traces are off.
func (t *Telemetry) Start(ctx context.Context, h http.Header, start time.Time) trace.Span {
	if t.tracer == nil {
		return nil
	}
	ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(h))
	_, span := t.tracer.Start(ctx, "moat", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	return span
}

// Inject writes span's traceparent (and tracestate) into an upstream
// request's headers, replacing the client's, so the upstream's own trace
// joins the call's. With no span (traces off) h is left as it is.
func (t *Telemetry) Inject(span trace.Span, h http.Header) {
	if span == nil {
		return
	}
	h.Del("Traceparent")
	h.Del("Tracestate")
	t.prop.Inject(trace.ContextWithSpan(context.Background(), span), propagation.HeaderCarrier(h))
}

// Finish ends the call's span (nil when traces are off) and records its
// metrics. It does no I/O: the span joins the export queue or is dropped.
func (t *Telemetry) Finish(span trace.Span, c Call) {
	if span != nil {
		endSpan(span, c)
	}
	if t.inst != nil {
		ctx := context.Background()
		if span != nil {
			ctx = trace.ContextWithSpan(ctx, span) // exemplars link metrics to the trace
		}
		t.inst.record(ctx, c)
	}
}

// ForceFlush exports what is queued and collected now. Tests use it
// instead of waiting for the batch timer or the export interval.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	var errs []error
	if t.tp != nil {
		errs = append(errs, t.tp.ForceFlush(ctx))
	}
	if t.mp != nil {
		errs = append(errs, t.mp.ForceFlush(ctx))
	}
	return errors.Join(errs...)
}

// Shutdown exports what is left, within ctx, and stops. Spans ended after
// it are dropped and counted.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	errs = append(errs, t.shutdownTraces(ctx))
	if t.mp != nil {
		errs = append(errs, t.mp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

func (t *Telemetry) shutdownTraces(ctx context.Context) error {
	if t.tp == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// Stats are the exporter's counters since New.
type Stats struct {
	// SpansExported were accepted by the collector.
	SpansExported uint64
	// SpansDropped never reached an export: the queue was full, or moat was shutting down.
	SpansDropped uint64
	// SpansFailed were lost in exports that failed.
	SpansFailed uint64
	// TraceExportErrors and MetricExportErrors count failed export requests.
	TraceExportErrors, MetricExportErrors uint64
}

// Stats returns the counters.
func (t *Telemetry) Stats() Stats {
	var s Stats
	if q := t.queue; q != nil {
		s.SpansExported, s.SpansDropped, s.SpansFailed = q.exported.Load(), q.dropped.Load(), q.failed.Load()
	}
	s.TraceExportErrors, s.MetricExportErrors = t.errs.traces.Load(), t.errs.metrics.Load()
	return s
}

// newUUID returns a random (version 4) UUID, the form semconv recommends for
// service.instance.id.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
