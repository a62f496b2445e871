package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTelemetryDefaults(t *testing.T) {
	c, err := Parse([]byte("telemetry: {endpoint: 'http://otel-collector:4318'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tc := c.Telemetry
	if !tc.TracesEnabled() || !tc.MetricsEnabled() || tc.Timeout.D() != 10*time.Second || tc.ExportInterval.D() != time.Minute ||
		tc.ServiceName != "moat" || *tc.SampleRatio != 1 || tc.QueueSize != 2048 {
		t.Fatalf("defaults %+v", tc)
	}
	off, err := Parse([]byte("region: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if off.Telemetry.Enabled() || off.Telemetry.TracesEnabled() || off.Telemetry.MetricsEnabled() {
		t.Fatal("telemetry on without an endpoint")
	}
}

func TestTelemetryValidation(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		yaml string
		want []string // every substring must appear; none means valid
	}{
		{name: "off by default", yaml: "region: x\n"},
		{name: "full", yaml: `
telemetry:
  endpoint: https://otel.internal:4318/otlp
  traces: true
  metrics: false
  headers: {Authorization: Bearer abc, X-Scope-OrgID: moat}
  timeout: 5s
  export_interval: 15s
  tls: {ca_file: '` + ca + `'}
  service_name: moat-pe
  resource_attributes: {deployment.environment.name: prod}
  sample_ratio: 0.25
  queue_size: 100
`},
		{name: "keys without an endpoint", yaml: "telemetry: {traces: false, sample_ratio: 0.5}\n",
			want: []string{"endpoint is required"}},
		{name: "not a URL", yaml: "telemetry: {endpoint: 'otel:4318'}\n", want: []string{`endpoint "otel:4318" must be an http(s) URL`}},
		{name: "grpc scheme", yaml: "telemetry: {endpoint: 'grpc://otel:4317'}\n", want: []string{"must be an http(s) URL"}},
		{name: "credentials in URL", yaml: "telemetry: {endpoint: 'http://u:p@otel:4318'}\n", want: []string{"must not carry credentials"}},
		{name: "signal path", yaml: "telemetry: {endpoint: 'http://otel:4318/v1/traces'}\n", want: []string{"base URL"}},
		{name: "query", yaml: "telemetry: {endpoint: 'http://otel:4318/?x=1'}\n", want: []string{"query or fragment"}},
		{name: "every problem at once", yaml: `
telemetry:
  endpoint: http://otel:4318
  traces: false
  metrics: false
  headers: {"bad header": x, Content-Type: y, X-Empty: ""}
  tls: {ca_file: /nonexistent/ca.pem}
  resource_attributes: {service.name: other, "": v}
  sample_ratio: 1.5
  queue_size: -1
  timeout: -1s
`, want: []string{"both false", `"bad header" is not a valid`, "Content-Type is set by the exporter", "X-Empty has no value",
			"tls applies to https", "tls.ca_file", "service.name cannot be set here", "empty key",
			"sample_ratio must be between 0 and 1", "queue_size must be positive", "timeout and export_interval must be positive"}},
		{name: "unknown key has its line", yaml: "telemetry:\n  endpoint: http://otel:4318\n  sampler: always\n",
			want: []string{"line 3", "sampler"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestTelemetryHeadersRedacted: header values are secrets: resolved from
// ${ENV} or file:, and never printed by `moat config print`.
func TestTelemetryHeadersRedacted(t *testing.T) {
	t.Setenv("MOAT_TEST_OTLP_TOKEN", "otlp-env-secret")
	file := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(file, []byte("otlp-file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte("telemetry:\n  endpoint: http://otel:4318\n  headers:\n    Authorization: ${MOAT_TEST_OTLP_TOKEN}\n" +
		"    X-Token: file:" + file + "\n    X-Literal: otlp-literal-secret\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Telemetry.Headers["Authorization"].Value() != "otlp-env-secret" || c.Telemetry.Headers["X-Token"].Value() != "otlp-file-secret" {
		t.Fatal("header secrets not resolved")
	}
	dump, err := c.Dump()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"otlp-env-secret", "otlp-file-secret", "otlp-literal-secret"} {
		if strings.Contains(string(dump), secret) {
			t.Fatalf("dump leaks %s:\n%s", secret, dump)
		}
	}
	if !strings.Contains(string(dump), "${MOAT_TEST_OTLP_TOKEN}") {
		t.Fatalf("dump should name the env var:\n%s", dump)
	}
	again, err := Parse(dump)
	if err != nil {
		t.Fatalf("dump does not load back: %v", err)
	}
	if !SameTelemetry(c.Telemetry, c.Telemetry) || SameTelemetry(c.Telemetry, again.Telemetry) {
		t.Fatal("SameTelemetry must compare secret values (the literal is redacted in the dump)")
	}
}
