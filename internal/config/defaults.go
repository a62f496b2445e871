package config

import (
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/moat-gw/moat/internal/upstream"
)

// Default values, named so docs and tests can refer to them.
const (
	DefaultDataAddress       = "127.0.0.1:8080"
	DefaultManagementAddress = "127.0.0.1:9090"
	DefaultDataDir           = "moat-data"
	DefaultMaxBodyBytes      = 25 << 20
	DefaultBodyReadTimeout   = Duration(60 * time.Second)
	DefaultAzureAPIVersion   = "2024-10-21"
	DefaultScope             = "https://cognitiveservices.azure.com/.default"
	DefaultRegion            = "local"
	// DefaultSimulatorTPM and DefaultSimulatorRPM are the built-in
	// simulator's per-deployment limits when the config sets none: about
	// 16,000 calls a second held for a minute, far beyond what one machine
	// drives through moat, yet a limit, so that 200s carry Azure's
	// x-ratelimit-remaining-* headers.
	DefaultSimulatorTPM = 1_000_000_000
	DefaultSimulatorRPM = 1_000_000
)

// ApplyDefaults fills unset fields. With no upstreams and no deployments it
// configures the built-in simulator, so `moat serve` works with no file.
func (c *Config) ApplyDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if len(c.Listeners) == 0 {
		c.Listeners = []Listener{{Name: "default", Address: DefaultDataAddress, Kind: "private_endpoint"}}
	}
	if len(c.Management.Listeners) == 0 {
		c.Management.Listeners = []Listener{{Name: "management", Address: DefaultManagementAddress, Kind: "private_endpoint"}}
	}
	for i := range c.Listeners {
		defaultListener(&c.Listeners[i], "listener", i)
	}
	for i := range c.Management.Listeners {
		defaultListener(&c.Management.Listeners[i], "management", i)
	}
	if c.Network.PublicNetworkAccess == "" {
		c.Network.PublicNetworkAccess = "enabled"
	}
	if c.Limits.MaxBodyBytes == 0 {
		c.Limits.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Limits.MaxRetryBodyBytes == 0 {
		c.Limits.MaxRetryBodyBytes = c.Limits.MaxBodyBytes
	}
	if c.Limits.BodyReadTimeout == 0 {
		c.Limits.BodyReadTimeout = DefaultBodyReadTimeout
	}
	c.Log.applyDefaults()
	if c.Log.SpoolDir == "" {
		c.Log.SpoolDir = filepath.Join(c.DataDir, "spool")
	}
	c.Routing.applyDefaults()
	c.RateLimits.applyDefaults()
	c.Telemetry.applyDefaults()
	for i := range c.Guardrails {
		g := &c.Guardrails[i]
		if g.Name == "" {
			g.Name = g.Builtin
		}
		if g.ApplyTo == "" {
			g.ApplyTo = "both"
		}
	}
	if len(c.Upstreams) == 0 && len(c.Deployments) == 0 {
		c.Upstreams = []Upstream{{Name: "simulator", Type: upstream.TypeSimulator}}
		c.Deployments = []Deployment{
			{Name: "gpt-4o-mini", Model: "gpt-4o-mini", Upstreams: []DeploymentUpstream{{Upstream: "simulator"}}},
			{Name: "gpt-4o", Model: "gpt-4o", Upstreams: []DeploymentUpstream{{Upstream: "simulator"}}},
			{Name: "text-embedding-3-small", Model: "text-embedding-3-small", Upstreams: []DeploymentUpstream{{Upstream: "simulator"}}},
		}
	}
	for i := range c.Upstreams {
		c.Upstreams[i].applyDefaults()
	}
	for i := range c.Deployments {
		d := &c.Deployments[i]
		if d.Model == "" {
			d.Model = d.Name
		}
		for j := range d.Upstreams {
			if d.Upstreams[j].Deployment == "" {
				d.Upstreams[j].Deployment = d.Name
			}
			if d.Upstreams[j].Priority == 0 {
				d.Upstreams[j].Priority = 1
			}
			if d.Upstreams[j].Weight == 0 {
				d.Upstreams[j].Weight = 1
			}
		}
	}
	if c.Simulator.TimeToFirstToken == 0 && c.Simulator.TokensPerSecond == 0 {
		c.Simulator.TimeToFirstToken = Duration(150 * time.Millisecond)
		c.Simulator.TokensPerSecond = 200
	}
	if c.Shutdown.GracePeriod == 0 {
		c.Shutdown.GracePeriod = Duration(30 * time.Second)
	}
	if c.Simulator.TPM == nil {
		v := DefaultSimulatorTPM
		c.Simulator.TPM = &v
	}
	if c.Simulator.RPM == nil {
		v := DefaultSimulatorRPM
		c.Simulator.RPM = &v
	}
	if c.Shutdown.PreStop == nil {
		d := Duration(5 * time.Second)
		c.Shutdown.PreStop = &d
	}
	if c.Replica.Name == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			c.Replica.Name = h
		} else {
			c.Replica.Name = "moat"
		}
	}
	if c.Replica.Heartbeat == 0 {
		c.Replica.Heartbeat = Duration(15 * time.Second)
	}
}

func defaultListener(l *Listener, prefix string, i int) {
	if l.Name == "" {
		l.Name = prefix
		if i > 0 {
			l.Name += "-" + strconv.Itoa(i)
		}
	}
	if l.Kind == "" {
		l.Kind = "public" // forgetting the kind never opens anything
	}
	if l.TLS != nil && l.TLS.MinVersion == "" {
		l.TLS.MinVersion = "1.2"
	}
	if l.TLS != nil && l.TLS.ClientCAFile != "" && l.TLS.ClientAuth == "" {
		l.TLS.ClientAuth = "require"
	}
}

func (l *Log) applyDefaults() {
	if l.Store == "" {
		l.Store = "sqlite"
	}
	if l.QueueSize == 0 {
		l.QueueSize = 8192
	}
	if l.BatchSize == 0 {
		l.BatchSize = 256
	}
	if l.FlushInterval == 0 {
		l.FlushInterval = Duration(200 * time.Millisecond)
	}
	if l.SpoolMaxBytes == 0 {
		l.SpoolMaxBytes = 1 << 30
	}
	if l.SpoolFsyncInterval == 0 {
		l.SpoolFsyncInterval = Duration(100 * time.Millisecond)
	}
	if l.MaxBodyLogBytes == 0 {
		l.MaxBodyLogBytes = 32 << 10
	}
	if l.Level == "" {
		l.Level = "info"
	}
	if l.Format == "" {
		l.Format = "text"
	}
}

func (u *Upstream) applyDefaults() {
	spec := upstreamSpec(u.Type)
	if spec.Entra && u.Auth == "" && u.APIKey.IsSet() {
		u.Auth = "api_key"
	}
	if u.Scope == "" {
		u.Scope = DefaultScope
		if spec.DefaultScope != "" {
			u.Scope = spec.DefaultScope
		}
	}
	if u.APIVersion == "" {
		u.APIVersion = DefaultAzureAPIVersion
	}
	if u.StreamUsage == nil {
		t := true
		u.StreamUsage = &t
	}
	if u.Timeout == 0 {
		u.Timeout = Duration(60 * time.Second)
	}
	if u.ConnectTimeout == 0 {
		u.ConnectTimeout = Duration(10 * time.Second)
	}
}
