package config

import (
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"
)

// Telemetry configures OpenTelemetry export over OTLP/HTTP. It is off unless
// Endpoint is set: on a closed network nothing leaves moat unless an
// operator points it somewhere on purpose.
type Telemetry struct {
	// Endpoint is the collector's OTLP/HTTP base URL, e.g.
	// http://otel-collector.internal:4318; moat appends /v1/traces and
	// /v1/metrics. Empty turns telemetry off.
	Endpoint string `yaml:"endpoint"`
	// Traces exports one span per call. Default true.
	Traces *bool `yaml:"traces"`
	// Metrics exports the GenAI metrics. Default true.
	Metrics *bool `yaml:"metrics"`
	// Headers are sent with every export (e.g. a collector token); values are secrets.
	Headers map[string]Secret `yaml:"headers"`
	// Timeout bounds one export request, and the flush at shutdown. Default 10s.
	Timeout Duration `yaml:"timeout"`
	// ExportInterval is how often metrics are exported. Default 60s.
	ExportInterval Duration `yaml:"export_interval"`
	// TLS configures an https endpoint.
	TLS *TelemetryTLS `yaml:"tls"`
	// ServiceName is the service.name resource attribute. Default "moat".
	ServiceName string `yaml:"service_name"`
	// ResourceAttributes are added to the resource (e.g. deployment.environment.name).
	ResourceAttributes map[string]string `yaml:"resource_attributes"`
	// SampleRatio is the share of new traces recorded (0..1); a call that
	// carries a traceparent follows its parent's decision. Default 1.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// QueueSize bounds spans waiting for export; beyond it they are dropped
	// and counted. Default 2048.
	QueueSize int `yaml:"queue_size"`
}

// TelemetryTLS is the client side of TLS to the collector.
type TelemetryTLS struct {
	// CAFile adds a PEM CA bundle (a private CA) to the system roots.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify skips certificate verification. For tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Enabled reports whether anything is exported.
func (t *Telemetry) Enabled() bool { return t.Endpoint != "" }

// TracesEnabled reports whether spans are exported.
func (t *Telemetry) TracesEnabled() bool { return t.Enabled() && t.Traces != nil && *t.Traces }

// MetricsEnabled reports whether metrics are exported.
func (t *Telemetry) MetricsEnabled() bool { return t.Enabled() && t.Metrics != nil && *t.Metrics }

// Defaults for telemetry, applied only when an endpoint is set.
const (
	DefaultTelemetryServiceName = "moat"
	DefaultTelemetryQueueSize   = 2048
)

func (t *Telemetry) applyDefaults() {
	if !t.Enabled() {
		return // left as written, so Validate can tell keys set without an endpoint
	}
	on := true
	if t.Traces == nil {
		t.Traces = &on
	}
	if t.Metrics == nil {
		t.Metrics = &on
	}
	if t.Timeout == 0 {
		t.Timeout = Duration(10 * time.Second)
	}
	if t.ExportInterval == 0 {
		t.ExportInterval = Duration(60 * time.Second)
	}
	if t.ServiceName == "" {
		t.ServiceName = DefaultTelemetryServiceName
	}
	if t.SampleRatio == nil {
		one := 1.0
		t.SampleRatio = &one
	}
	if t.QueueSize == 0 {
		t.QueueSize = DefaultTelemetryQueueSize
	}
}

// reservedHeaders would break the exporter's own request framing.
var reservedHeaders = map[string]bool{"content-type": true, "content-length": true, "content-encoding": true, "host": true}

// reservedResource are set by moat itself.
var reservedResource = map[string]string{
	"service.name":        "use telemetry.service_name",
	"service.version":     "moat sets it to its version",
	"service.instance.id": "moat sets it to a random ID per process",
}

func (t *Telemetry) validate() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf("telemetry: "+format, a...)) }
	if !t.Enabled() {
		if !reflect.DeepEqual(*t, Telemetry{}) {
			add("endpoint is required: without it nothing is exported, so the other telemetry keys would do nothing")
		}
		return errs
	}
	u, err := url.Parse(t.Endpoint)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		add("endpoint %q must be an http(s) URL such as http://otel-collector:4318", RedactURL(t.Endpoint))
	case u.User != nil:
		add("endpoint must not carry credentials; use telemetry.headers")
	case u.RawQuery != "" || u.Fragment != "":
		add("endpoint must not have a query or fragment")
	case strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/v1/traces") || strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/v1/metrics"):
		add("endpoint is the collector's base URL; moat appends /v1/traces and /v1/metrics itself")
	}
	if t.Traces != nil && t.Metrics != nil && !*t.Traces && !*t.Metrics {
		add("traces and metrics are both false; remove endpoint to turn telemetry off")
	}
	for name, v := range t.Headers {
		if !validHeaderName(name) {
			add("headers: %q is not a valid HTTP header name", name)
		} else if reservedHeaders[strings.ToLower(name)] {
			add("headers: %s is set by the exporter", name)
		}
		if !v.IsSet() {
			add("headers: %s has no value", name)
		} else if strings.ContainsAny(v.Value(), "\r\n") {
			add("headers: %s value contains a line break", name)
		}
	}
	if t.Timeout <= 0 || t.ExportInterval <= 0 {
		add("timeout and export_interval must be positive")
	}
	if t.TLS != nil {
		if err == nil && u.Scheme != "https" {
			add("tls applies to https endpoints only")
		}
		if t.TLS.CAFile != "" {
			if _, err := os.Stat(t.TLS.CAFile); err != nil {
				add("tls.ca_file: %v", err)
			}
		}
	}
	for k := range t.ResourceAttributes {
		if k == "" {
			add("resource_attributes: empty key")
		} else if why, ok := reservedResource[k]; ok {
			add("resource_attributes: %s cannot be set here (%s)", k, why)
		}
	}
	if r := t.SampleRatio; r != nil && (*r < 0 || *r > 1) {
		add("sample_ratio must be between 0 and 1")
	}
	if t.QueueSize < 0 {
		add("queue_size must be positive")
	}
	return errs
}

// validHeaderName reports whether s is an HTTP token (RFC 9110 §5.6.2).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// SameTelemetry reports whether two telemetry sections are the same, secret
// values included, so a reload can tell whether the exporter must change.
func SameTelemetry(a, b Telemetry) bool { return reflect.DeepEqual(a, b) }
