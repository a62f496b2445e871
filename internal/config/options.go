package config

import (
	"log/slog"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/route"
	"github.com/moat-gw/moat/internal/telemetry"
	"github.com/moat-gw/moat/internal/upstream"
)

// The conversions from config sections to the options of the packages
// that use them live here, in one file, so a new field is wired where its
// neighbours are. Rate rules (RateRule.Limit), network rules
// (Config.NetworkRules, Listener.Policy) and roles (Auth.RBAC) convert
// next to their validation, which shares their parsing.

// KeyCacheOptions converts the cache config for auth.NewKeyCache.
func (c IdentityCache) KeyCacheOptions() auth.KeyCacheOptions {
	return auth.KeyCacheOptions{Size: c.Size, TTL: c.TTL.D(), NotifyTTL: c.NotifyTTL.D(),
		NegativeTTL: c.NegativeTTL.D(), MaxStale: c.MaxStale.D()}
}

// PoolOptions converts routing settings for route.NewPool.
func (r *Routing) PoolOptions() route.Options {
	return route.Options{DefaultBench: r.DefaultBench.D(), MaxBench: r.MaxBench.D(), Breaker: route.BreakerConfig{
		ConsecutiveFailures: r.Breaker.ConsecutiveFailures, FailureRate: r.Breaker.FailureRate,
		MinRequests: r.Breaker.MinRequests, Window: r.Breaker.Window.D(), OpenFor: r.Breaker.OpenFor.D()}}
}

// WriterOptions converts the log section for reqlog.OpenWriter.
func (l Log) WriterOptions() reqlog.WriterOptions {
	return reqlog.WriterOptions{
		QueueSize: l.QueueSize, BatchSize: l.BatchSize, FlushInterval: l.FlushInterval.D(),
		SpoolDir: l.SpoolDir, SpoolMaxBytes: int64(l.SpoolMaxBytes), FsyncInterval: l.SpoolFsyncInterval.D(),
	}
}

// Options converts the telemetry section for telemetry.New; version is the
// service version reported, log the exporter's logger.
func (t Telemetry) Options(version string, log *slog.Logger) telemetry.Options {
	headers := map[string]string{}
	for k, v := range t.Headers {
		headers[k] = v.Value()
	}
	o := telemetry.Options{
		Endpoint: t.Endpoint, Traces: t.TracesEnabled(), Metrics: t.MetricsEnabled(), Headers: headers,
		Timeout: t.Timeout.D(), ExportInterval: t.ExportInterval.D(),
		ServiceName: t.ServiceName, ServiceVersion: version, ResourceAttributes: t.ResourceAttributes,
		SampleRatio: *t.SampleRatio, QueueSize: t.QueueSize, Logger: log,
	}
	if t.TLS != nil {
		o.CAFile, o.InsecureSkipVerify = t.TLS.CAFile, t.TLS.InsecureSkipVerify
	}
	return o
}

// Hasher is the key hasher auth.pepper makes: the gateway verifies keys
// with it and moat keys stores them with it, so both must agree.
func (a Auth) Hasher() auth.Hasher {
	return auth.NewHasher([]byte(a.Pepper.Value()))
}

// TargetOptions are the upstream.Options of u, presenting auth (from
// Authenticator). The caller substitutes the base URL of the built-in
// simulator, which the config does not know.
func (u Upstream) TargetOptions(auth upstream.Authenticator) upstream.Options {
	o := upstream.Options{Name: u.Name, Type: u.Type, BaseURL: u.URL(), Auth: auth, APIVersion: u.APIVersion,
		Timeout: u.Timeout.D(), ConnectTimeout: u.ConnectTimeout.D(), CAFile: u.CAFile, ConnectAddress: u.ConnectAddress}
	if u.StreamUsage != nil {
		o.StreamUsage = *u.StreamUsage
	}
	return o
}
