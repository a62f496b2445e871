package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"

	"github.com/moat-gw/moat/internal/upstream"
)

// apiVersionRE is the shape of a dated Azure api-version.
var apiVersionRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(-preview)?$`)

// ValidAPIVersion reports whether v has the YYYY-MM-DD(-preview) shape.
func ValidAPIVersion(v string) bool { return apiVersionRE.MatchString(v) }

// Validate reports every problem in c at once. It does not touch the
// network; it only reads TLS and CA files to check they exist.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	addrs := map[string]string{}
	names := map[string]bool{}
	checkListener := func(where string, l Listener) {
		if names[l.Name] {
			add("%s: duplicate listener name %q", where, l.Name)
		}
		names[l.Name] = true
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			add("%s %q: address %q: %v", where, l.Name, l.Address, err)
		}
		if other, ok := addrs[l.Address]; ok && !strings.HasSuffix(l.Address, ":0") {
			add("%s %q: address %s is already used by %q", where, l.Name, l.Address, other)
		}
		addrs[l.Address] = l.Name
		if l.Kind != "private_endpoint" && l.Kind != "public" {
			add("%s %q: kind must be private_endpoint or public, not %q", where, l.Name, l.Kind)
		} else if _, err := l.Policy(); err != nil {
			errs = append(errs, plainErrors(strings.TrimSuffix(where, "listener"), err)...) // netpolicy names the listener
		}
		if l.TLS != nil {
			if l.TLS.CertFile == "" || l.TLS.KeyFile == "" {
				add("%s %q: tls needs cert_file and key_file", where, l.Name)
			}
			for _, f := range []string{l.TLS.CertFile, l.TLS.KeyFile} {
				if f == "" {
					continue
				}
				if err := c.checkFile(f); err != nil {
					add("%s %q: tls: %v", where, l.Name, err)
				}
			}
			if l.TLS.MinVersion != "1.2" && l.TLS.MinVersion != "1.3" {
				add("%s %q: tls.min_version must be 1.2 or 1.3", where, l.Name)
			}
			switch {
			case l.TLS.ClientCAFile == "" && l.TLS.ClientAuth != "":
				add("%s %q: tls.client_auth needs tls.client_ca_file", where, l.Name)
			case l.TLS.ClientCAFile != "" && l.TLS.ClientAuth != "require" && l.TLS.ClientAuth != "optional":
				add("%s %q: tls.client_auth must be require or optional, not %q", where, l.Name, l.TLS.ClientAuth)
			}
			if l.TLS.ClientCAFile != "" {
				if err := c.checkFile(l.TLS.ClientCAFile); err != nil {
					add("%s %q: tls.client_ca_file: %v", where, l.Name, err)
				}
			}
		}
	}
	if len(c.Listeners) == 0 {
		add("listeners: at least one is required")
	}
	for _, l := range c.Listeners {
		checkListener("listener", l)
	}
	for _, l := range c.Management.Listeners {
		checkListener("management listener", l)
		if l.Kind == "public" && !c.Management.AllowPublic {
			add("management listener %q: kind public exposes the admin API and metrics; "+
				"use a private_endpoint listener or set management.allow_public: true on purpose", l.Name)
		}
	}
	if _, err := c.NetworkRules(); err != nil {
		errs = append(errs, plainErrors("network: ", err)...)
	}

	if c.Limits.MaxBodyBytes <= 0 {
		add("limits.max_body_bytes must be positive")
	}
	if c.Limits.BodyReadTimeout < 0 {
		add("limits.body_read_timeout cannot be negative")
	}
	if c.Limits.MaxRetryBodyBytes > c.Limits.MaxBodyBytes {
		add("limits.max_retry_body_bytes cannot exceed limits.max_body_bytes")
	}
	for _, v := range c.APIVersions {
		if !ValidAPIVersion(v) {
			add("api_versions: %q is not YYYY-MM-DD or YYYY-MM-DD-preview", v)
		}
	}
	errs = append(errs, c.validateExposure()...)
	errs = append(errs, c.Management.validateAllowedHosts()...)
	errs = append(errs, c.Management.Query.validate()...)
	errs = append(errs, c.validateStudio()...)
	errs = append(errs, c.Log.validate()...)
	errs = append(errs, c.validateProtection()...)
	errs = append(errs, c.Auth.validate()...)
	errs = append(errs, c.Routing.validate()...)
	errs = append(errs, c.RateLimits.validate()...)
	errs = append(errs, c.Telemetry.validate()...)

	ups := map[string]bool{}
	for i, u := range c.Upstreams {
		if u.CAFile != "" {
			if err := c.checkFile(u.CAFile); err != nil {
				add("upstream %q: ca_file: %v", u.Name, err)
			}
		}
		if u.Name == "" {
			add("upstreams[%d]: name is required", i)
		} else if ups[u.Name] {
			add("upstreams[%d]: duplicate name %q", i, u.Name)
		}
		ups[u.Name] = true
		for _, err := range u.validate() {
			add("upstream %q: %w", u.Name, err)
		}
	}
	deps := map[string]bool{}
	for i, d := range c.Deployments {
		if d.Name == "" || strings.ContainsAny(d.Name, "/?#") {
			add("deployments[%d]: name %q is empty or contains / ? #", i, d.Name)
		} else if deps[d.Name] {
			add("deployments[%d]: duplicate name %q", i, d.Name)
		}
		deps[d.Name] = true
		if len(d.Upstreams) == 0 {
			add("deployment %q: at least one upstream is required", d.Name)
		}
		members := map[string]bool{}
		for _, du := range d.Upstreams {
			if !ups[du.Upstream] {
				add("deployment %q: unknown upstream %q", d.Name, du.Upstream)
			}
			if members[du.Upstream] {
				add("deployment %q: upstream %q listed twice", d.Name, du.Upstream)
			}
			members[du.Upstream] = true
			if du.Priority < 0 || du.Weight < 0 {
				add("deployment %q: priority and weight cannot be negative", d.Name)
			}
		}
	}

	s := c.Simulator
	for name, v := range map[string]float64{"error_rate": s.ErrorRate, "timeout_rate": s.TimeoutRate, "drop_stream_rate": s.DropStreamRate, "rate_limit_rate": s.RateLimitRate} {
		if v < 0 || v > 1 {
			add("simulator.%s must be between 0 and 1", name)
		}
	}
	if s.TokensPerSecond < 0 || (s.TPM != nil && *s.TPM < 0) || (s.RPM != nil && *s.RPM < 0) || s.BatchTime < 0 {
		add("simulator: tokens_per_second, tpm, rpm and batch_time cannot be negative")
	}
	if c.Shutdown.GracePeriod < 0 {
		add("shutdown.grace_period cannot be negative")
	}
	if c.Shutdown.PreStopD() < 0 {
		add("shutdown.pre_stop cannot be negative")
	}
	if len(c.Replica.Name) > 128 || strings.ContainsFunc(c.Replica.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		add("replica.name must be at most 128 characters without control characters")
	}
	if c.Replica.Heartbeat < 0 {
		add("replica.heartbeat cannot be negative")
	}
	return errors.Join(errs...)
}

// goCallRE matches the Go function call that net/netip puts in its errors
// (`netip.ParsePrefix("10.0.0.0/33"): `), which plainErrors turns into the
// value alone: a config author does not read Go.
var goCallRE = regexp.MustCompile(`(?:netip\.)?Parse[A-Za-z]*\(("[^"]*")\): `)

// plainErrors splits a joined error into one error per problem, each with
// prefix and without Go call names.
func plainErrors(prefix string, err error) []error {
	var out []error
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, errors.New(prefix+goCallRE.ReplaceAllString(line, "$1: ")))
		}
	}
	return out
}

// checkFile reports a file that is not there, unless the config was loaded
// with NoSecrets: certificates, keys and CA bundles live on the machine
// that runs moat, not on the one that reviews its config.
func (c *Config) checkFile(path string) error {
	if c.noFiles {
		return nil
	}
	_, err := os.Stat(path)
	return err
}

func (l *Log) validate() []error {
	var errs []error
	switch l.Store {
	case "sqlite":
	case "postgres":
		if !l.PostgresDSN.IsSet() {
			errs = append(errs, errors.New("log.postgres_dsn is required when log.store is postgres"))
		}
	default:
		errs = append(errs, fmt.Errorf("log.store must be sqlite or postgres, not %q", l.Store))
	}
	if l.QueueSize < 1 || l.BatchSize < 1 || l.FlushInterval <= 0 {
		errs = append(errs, errors.New("log.queue_size, log.batch_size and log.flush_interval must be positive"))
	}
	if l.SpoolMaxBytes < 1<<20 {
		errs = append(errs, errors.New("log.spool_max_bytes must be at least 1MiB"))
	}
	if l.SpoolFsyncInterval <= 0 {
		errs = append(errs, errors.New("log.spool_fsync_interval must be positive"))
	}
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level must be debug, info, warn or error, not %q", l.Level))
	}
	if l.Format != "text" && l.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format must be text or json, not %q", l.Format))
	}
	if l.JSONL != nil && l.JSONL.Path == "" {
		errs = append(errs, errors.New(`log.jsonl.path is required: a file to append to, or "-" for stdout`))
	}
	if l.Retention < 0 {
		errs = append(errs, errors.New("log.retention cannot be negative"))
	}
	return errs
}

func (u *Upstream) validate() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	checkURL := func(field, raw string) {
		if err := checkEndpointURL(field, raw); err != nil {
			errs = append(errs, err)
		}
	}
	p, ok := upstream.Lookup(u.Type)
	if !ok {
		add("type must be %s, not %q", upstream.TypeList(), u.Type)
		return errs
	}
	spec := p.Spec()
	switch spec.URL {
	case upstream.URLEndpoint:
		if u.Endpoint == "" {
			add("endpoint is required")
		} else {
			checkURL("endpoint", u.Endpoint)
		}
	case upstream.URLBaseURL:
		if u.BaseURL == "" {
			add("base_url is required")
		} else {
			checkURL("base_url", u.BaseURL)
		}
	}
	if spec.KeyRequired && !u.APIKey.IsSet() {
		add("api_key is required for %s", u.Type)
	}
	switch {
	case spec.Entra:
		switch u.Auth {
		case "api_key":
			if !u.APIKey.IsSet() {
				add("auth api_key needs api_key")
			}
		case "client_secret":
			if u.TenantID == "" || u.ClientID == "" || !u.ClientSecret.IsSet() {
				add("auth client_secret needs tenant_id, client_id and client_secret")
			}
		case "managed_identity", "workload_identity", "default":
		case "":
			add("auth is required: api_key, managed_identity, workload_identity, client_secret or default")
		default:
			add("auth %q is not one of api_key, managed_identity, workload_identity, client_secret, default", u.Auth)
		}
	case u.Auth != "" && spec.URL != upstream.URLNone:
		add("auth applies to %s upstreams only", entraTypes())
	}
	if spec.DatedAPIVersion && !ValidAPIVersion(u.APIVersion) {
		add("api_version %q is not a dated api-version", u.APIVersion)
	}
	if u.Timeout < 0 || u.ConnectTimeout < 0 || u.IdleTimeout < 0 {
		add("timeouts cannot be negative")
	}
	errs = append(errs, u.validateDial()...)
	return errs
}

// upstreamSpec is the spec of a type, the zero Spec for an unknown one
// (which Validate reports).
func upstreamSpec(t upstream.Type) upstream.Spec {
	if p, ok := upstream.Lookup(t); ok {
		return p.Spec()
	}
	return upstream.Spec{}
}

// entraTypes names the types that take auth, for messages.
func entraTypes() string {
	var names []string
	for _, t := range upstream.Types() {
		if upstreamSpec(t).Entra {
			names = append(names, string(t))
		}
	}
	return strings.Join(names, " and ")
}
