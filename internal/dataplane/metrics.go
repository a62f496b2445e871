package dataplane

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the data plane's Prometheus series. Label values come only from
// config (deployment and upstream names) or closed sets (status class,
// error kind, operation), never from client input, so cardinality is bounded
// and no secret can become a label.
type Metrics struct {
	requests *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	ttfb     *prometheus.HistogramVec
	upstream *prometheus.HistogramVec
	inflight prometheus.Gauge
	network  *prometheus.CounterVec
	attempts *prometheus.CounterVec
	limited  *prometheus.CounterVec
	// sampledOut counts refused-before-auth calls left out of the request log.
	sampledOut *prometheus.CounterVec
	protectMetrics
}

// latencyBuckets span sub-millisecond gateway answers to minutes-long streams.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_requests_total",
			Help: "Calls answered, by deployment, operation, HTTP status and error kind.",
		}, []string{"deployment", "operation", "status", "error_kind"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_tokens_total",
			Help: "Tokens processed, by deployment and type (prompt, completion).",
		}, []string{"deployment", "type"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "moat_request_duration_seconds", Help: "Total call duration as seen by moat.", Buckets: latencyBuckets,
		}, []string{"deployment", "operation"}),
		ttfb: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "moat_time_to_first_byte_seconds", Help: "Time from request arrival to the first response body byte.", Buckets: latencyBuckets,
		}, []string{"deployment"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "moat_upstream_duration_seconds", Help: "Time the upstream took to send response headers.", Buckets: latencyBuckets,
		}, []string{"upstream"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "moat_inflight_requests", Help: "Calls in progress.",
		}),
	}
	reg.MustRegister(m.requests, m.tokens, m.duration, m.ttfb, m.upstream, m.inflight)
	m.network = newNetworkMetric(reg)
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "moat_upstream_attempts_total",
		Help: "Upstream attempts, by upstream and outcome (2xx, 4xx, throttled, server_error, error).",
	}, []string{"upstream", "outcome"})
	m.limited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "moat_ratelimit_denials_total",
		Help: "Calls refused by moat's own limits, by kind (tokens, requests, quota, unavailable).",
	}, []string{"kind"})
	reg.MustRegister(m.attempts, m.limited)
	m.sampledOut = newSampledOutMetric(reg)
	m.protectMetrics = newProtectMetrics(reg)
	return m
}
