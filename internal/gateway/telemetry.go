package gateway

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/telemetry"
)

// newTelemetry starts OTLP export when the config names an endpoint, and
// returns nil otherwise. It lives as long as the Server: a reload that
// changes the telemetry section is refused (see Reload).
func newTelemetry(ctx context.Context, tc config.Telemetry, version string, log *slog.Logger) (*telemetry.Telemetry, error) {
	if !tc.Enabled() {
		return nil, nil
	}
	return telemetry.New(ctx, tc.Options(version, log.With("component", "telemetry")))
}

// registerTelemetryMetrics exports the exporter's own health, so spans lost
// to a full queue or a down collector show where operators already look.
func (s *Server) registerTelemetryMetrics() {
	t := s.tel
	counter := func(name, help string, labels prometheus.Labels, f func(telemetry.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return float64(f(t.Stats())) })
	}
	const dropped = "Spans lost before reaching the collector, by reason (queue_full, export_failed)."
	const failed = "Failed OTLP export requests, by signal."
	s.reg.MustRegister(
		counter("moat_otel_spans_exported_total", "Spans accepted by the OpenTelemetry collector.", nil,
			func(st telemetry.Stats) uint64 { return st.SpansExported }),
		counter("moat_otel_spans_dropped_total", dropped, prometheus.Labels{"reason": "queue_full"},
			func(st telemetry.Stats) uint64 { return st.SpansDropped }),
		counter("moat_otel_spans_dropped_total", dropped, prometheus.Labels{"reason": "export_failed"},
			func(st telemetry.Stats) uint64 { return st.SpansFailed }),
		counter("moat_otel_export_errors_total", failed, prometheus.Labels{"signal": "traces"},
			func(st telemetry.Stats) uint64 { return st.TraceExportErrors }),
		counter("moat_otel_export_errors_total", failed, prometheus.Labels{"signal": "metrics"},
			func(st telemetry.Stats) uint64 { return st.MetricExportErrors }),
	)
}
