// Package config is moat's configuration: one YAML file, decoded strictly
// (an unknown key is an error with its line), secrets resolved from the
// environment or files at load, and validated at once with every problem
// reported together. A loaded Config is never mutated; reload builds a new one.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/moat-gw/moat/internal/upstream"
)

// Config is the whole gateway configuration.
type Config struct {
	// DataDir holds the embedded SQLite store and other local state.
	DataDir string `yaml:"data_dir"`
	// Region is the x-ms-region value sent when the upstream sends none.
	Region string `yaml:"region"`
	// Listeners are the data-plane listeners (Azure-compatible API).
	Listeners []Listener `yaml:"listeners"`
	// Management configures the management plane (metrics, health, admin).
	Management Management `yaml:"management"`
	// Network holds Azure's public network access rules.
	Network Network `yaml:"network"`
	// Auth configures API keys, tokens and roles.
	Auth Auth `yaml:"auth"`
	// Limits bounds what a request may carry.
	Limits Limits `yaml:"limits"`
	// APIVersions overrides the accepted dated api-version list.
	APIVersions []string `yaml:"api_versions"`
	// Log configures the request log.
	Log Log `yaml:"log"`
	// Upstreams are the model services moat forwards to.
	Upstreams []Upstream `yaml:"upstreams"`
	// Deployments are the names clients call, each mapped to upstreams.
	Deployments []Deployment `yaml:"deployments"`
	// Routing tunes failover and circuit breaking across a deployment's upstreams.
	Routing Routing `yaml:"routing"`
	// RateLimits are token and request limits reserved at admission.
	RateLimits RateLimits `yaml:"rate_limits"`
	// Simulator configures the built-in simulator used by simulator upstreams.
	Simulator Simulator `yaml:"simulator"`
	// Shutdown bounds graceful shutdown.
	Shutdown Shutdown `yaml:"shutdown"`
	// Replica names this process among the replicas sharing a store, for
	// the request log, /status and the replicas table.
	Replica Replica `yaml:"replica"`
	// Telemetry exports traces and metrics over OTLP/HTTP. Off by default.
	Telemetry Telemetry `yaml:"telemetry"`
	// Guardrails are rules checked on prompts and completions: block, mask
	// or flag (docs/data-protection.md). None by default.
	Guardrails []Guardrail `yaml:"guardrails"`

	fromFile bool
	noFiles  bool // loaded with NoSecrets: TLS and CA files need not exist here
}

// Listener is one socket moat accepts calls on.
type Listener struct {
	// Name identifies the listener in logs and metrics.
	Name string `yaml:"name"`
	// Address is host:port to bind, e.g. "10.0.1.4:443" or "[::1]:8080".
	Address string `yaml:"address"`
	// Kind is "private_endpoint" (inside the VNet; always allowed by the
	// public-access rules) or "public" (the default: a forgotten kind is
	// judged by the public-access rules, never exempt from them).
	Kind string `yaml:"kind"`
	// TLS enables HTTPS on the listener.
	TLS *TLS `yaml:"tls"`
	// AllowedSources restricts source addresses like an NSG (CIDRs or addresses).
	AllowedSources []string `yaml:"allowed_sources"`
	// ProxyProtocol accepts PROXY protocol v1/v2 headers from trusted proxies.
	ProxyProtocol bool `yaml:"proxy_protocol"`
}

// TLS is a listener's certificate.
type TLS struct {
	// CertFile is a PEM certificate chain.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key.
	KeyFile string `yaml:"key_file"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
	// ClientCAFile is a PEM CA bundle; when set, client certificates signed
	// by it are verified and authenticate as cert:<name> principals.
	ClientCAFile string `yaml:"client_ca_file"`
	// ClientAuth is "require" (default with client_ca_file: no certificate,
	// no connection) or "optional" (a certificate, a key or a token).
	ClientAuth string `yaml:"client_auth"`
}

// Management is the management plane: it has its own listeners and never
// shares the data-plane ones unless configured on purpose.
type Management struct {
	// Listeners serve /metrics, /healthz, /readyz and the admin API.
	Listeners []Listener `yaml:"listeners"`
	// AllowPublic permits public management listeners. Off by default, so
	// nothing that can change keys or rules is reachable from a public
	// network unless configured on purpose.
	AllowPublic bool `yaml:"allow_public"`
	// AllowedHosts are the host names (or "*.suffix" wildcards) the
	// management plane answers to beyond IP addresses and localhost. Any
	// other Host header is refused, so a web page cannot reach moat through
	// DNS rebinding.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// Query bounds the KQL queries served on the management plane (query
	// API and dashboard), which share the machine with the data plane.
	Query QueryLimits `yaml:"query"`
	// Studio configures the studio at /studio/: sign-in, sessions and where
	// it is served.
	Studio Studio `yaml:"studio"`
}

// QueryLimits cap concurrent log queries. Zero means the default.
type QueryLimits struct {
	// MaxConcurrent caps query requests in progress overall; more get 429.
	// Default 8.
	MaxConcurrent int `yaml:"max_concurrent"`
	// MaxPerPrincipal caps one caller's query requests in progress; more
	// get 429. Default 2.
	MaxPerPrincipal int `yaml:"max_per_principal"`
	// Workers is how many SQL statements run at once; admitted queries
	// wait for a free one. Default half the CPUs, at least 1, so queries
	// never take every core from the data plane. Applies at restart.
	Workers int `yaml:"workers"`
}

// Network mirrors the Cognitive Services account network settings.
type Network struct {
	// PublicNetworkAccess is "enabled", "selected" or "disabled".
	PublicNetworkAccess string `yaml:"public_network_access"`
	// IPRules are source CIDRs allowed on public listeners in "selected" mode.
	IPRules []string `yaml:"ip_rules"`
	// VirtualNetworkRules are named source subnets allowed in "selected" mode.
	VirtualNetworkRules []Subnet `yaml:"virtual_network_rules"`
	// TrustedProxies are peers whose X-Forwarded-For/Forwarded/PROXY headers are believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Subnet is a named source subnet, the self-hosted stand-in for a VNet subnet ID.
type Subnet struct {
	// Name is the subnet's name, logged when it decides.
	Name string `yaml:"name"`
	// Prefix is the subnet's CIDR.
	Prefix string `yaml:"prefix"`
}

// Limits bounds request sizes.
type Limits struct {
	// MaxBodyBytes is the largest request body accepted (413 beyond). Default 25MiB.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// MaxRetryBodyBytes is the largest body kept for replay on failover. Default equals MaxBodyBytes.
	MaxRetryBodyBytes ByteSize `yaml:"max_retry_body_bytes"`
	// BodyReadTimeout is how long a client may take to send its whole
	// request body (408 beyond), so a client trickling its body cannot hold
	// a call open. Separate from the upstreams' idle_timeout. Default 60s.
	BodyReadTimeout Duration `yaml:"body_read_timeout"`
}

// Log configures the request log.
type Log struct {
	// Store is "sqlite" (default, in DataDir) or "postgres".
	Store string `yaml:"store"`
	// SQLitePath overrides the SQLite file (default DataDir/moat.db).
	SQLitePath string `yaml:"sqlite_path"`
	// PostgresDSN is the PostgreSQL connection string (a secret).
	PostgresDSN Secret `yaml:"postgres_dsn"`
	// QueueSize bounds records waiting to be written; beyond it they are dropped and counted.
	QueueSize int `yaml:"queue_size"`
	// BatchSize is the most records written in one transaction.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is the longest a record waits before being written.
	FlushInterval Duration `yaml:"flush_interval"`
	// SpoolDir holds the journal of records not yet in the store (default DataDir/spool).
	SpoolDir string `yaml:"spool_dir"`
	// SpoolMaxBytes bounds the spool; when full, new records are dropped and counted. Default 1GiB.
	SpoolMaxBytes ByteSize `yaml:"spool_max_bytes"`
	// SpoolFsyncInterval is how often the spool is fsynced: what a power loss can take. Default 100ms.
	SpoolFsyncInterval Duration `yaml:"spool_fsync_interval"`
	// Bodies stores prompts and completions in the log when true, for
	// deployments that do not set log_bodies. Off by default.
	Bodies bool `yaml:"bodies"`
	// MaxBodyLogBytes truncates logged bodies. Default 32KiB.
	MaxBodyLogBytes ByteSize `yaml:"max_body_log_bytes"`
	// Redact rewrites personal data in logged bodies before they reach the
	// spool or the store. On (all built-in rules) by default.
	Redact Redact `yaml:"redact"`
	// BodyRetention blanks logged bodies older than this, ahead of the
	// row's own retention; 0 keeps them as long as the row.
	BodyRetention Duration `yaml:"body_retention"`
	// Retention deletes records older than this (e.g. "30d"); 0 keeps everything.
	Retention Duration `yaml:"retention"`
	// Level is the process log level: debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is the process log format: text or json.
	Format string `yaml:"format"`
	// JSONL also writes every request-log record as one JSON line to a file
	// or stdout, for a SIEM. Off by default.
	JSONL *JSONL `yaml:"jsonl"`
}

// JSONL is a copy of the request log as JSON lines.
type JSONL struct {
	// Path is a file to append to, or "-" for stdout.
	Path string `yaml:"path"`
}

// Upstream is a model service.
type Upstream struct {
	// Name is referenced by deployments and appears in logs.
	Name string `yaml:"name"`
	// Type is "azure", "openai", "openai_compatible", "simulator" or
	// "anthropic"; it selects the upstream's protocol (internal/upstream).
	Type upstream.Type `yaml:"type"`
	// Endpoint is the Azure resource endpoint, e.g. https://contoso.openai.azure.com.
	Endpoint string `yaml:"endpoint"`
	// BaseURL is the OpenAI-style base URL ending in /v1 (openai,
	// openai_compatible), or the Anthropic base URL (anthropic):
	// https://api.anthropic.com or https://{resource}.services.ai.azure.com/anthropic.
	BaseURL string `yaml:"base_url"`
	// APIKey authenticates to the upstream (api-key for azure, x-api-key for
	// anthropic, Bearer for others).
	APIKey Secret `yaml:"api_key"`
	// Auth selects azure and anthropic authentication: "api_key" (default
	// when api_key is set), or an Entra ID token from "managed_identity",
	// "workload_identity", "client_secret" or "default".
	Auth string `yaml:"auth"`
	// TenantID is the Entra tenant for client_secret and workload_identity.
	TenantID string `yaml:"tenant_id"`
	// ClientID selects a user-assigned managed identity or the app registration.
	ClientID string `yaml:"client_id"`
	// ClientSecret is the app registration secret for client_secret auth.
	ClientSecret Secret `yaml:"client_secret"`
	// Scope is the token scope; default https://cognitiveservices.azure.com/.default
	// (azure) or https://ai.azure.com/.default (anthropic on Azure AI Foundry).
	Scope string `yaml:"scope"`
	// APIVersion is sent to Azure when the client called the v1 or OpenAI
	// surface (which carry no dated version). Default 2024-10-21.
	APIVersion string `yaml:"api_version"`
	// StreamUsage asks the upstream for stream usage (stream_options.include_usage)
	// and hides the extra chunk from clients that did not ask. Default true.
	StreamUsage *bool `yaml:"stream_usage"`
	// Timeout bounds the wait for response headers (the first byte). Default 60s.
	Timeout Duration `yaml:"timeout"`
	// ConnectTimeout bounds establishing the connection. Default 10s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// IdleTimeout bounds the silence between stream events; 0 = no limit.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// CAFile adds a PEM CA bundle for the upstream's TLS (private CAs).
	CAFile string `yaml:"ca_file"`
	// ConnectAddress, when set, is the IP:port moat dials instead of resolving
	// the endpoint's host, which still names the server for SNI, Host and the
	// certificate check. It reaches a private endpoint by address where moat's
	// own DNS cannot (or must not) resolve the public name to it.
	ConnectAddress string `yaml:"connect_address"`
}

// Deployment is a name clients call (Azure deployment, or v1 "model").
type Deployment struct {
	// Name is the deployment name in paths and in v1 "model".
	Name string `yaml:"name"`
	// Model is the underlying model, used for token counting and /models.
	Model string `yaml:"model"`
	// Upstreams lists where the deployment is served.
	Upstreams []DeploymentUpstream `yaml:"upstreams"`
	// LogBodies overrides log.bodies for this deployment.
	LogBodies *bool `yaml:"log_bodies"`
}

// DeploymentUpstream binds a deployment to an upstream, as a member of the
// deployment's pool.
type DeploymentUpstream struct {
	// Upstream names an entry of upstreams.
	Upstream string `yaml:"upstream"`
	// Deployment is the name on the upstream (Azure deployment or model). Default: the deployment's name.
	Deployment string `yaml:"deployment"`
	// Priority orders tiers: lower first (e.g. 1 = provisioned throughput, 2 = pay-as-you-go). Default 1.
	Priority int `yaml:"priority"`
	// Weight shares traffic inside a tier. Default 1.
	Weight int `yaml:"weight"`
}

// Simulator configures the built-in simulator.
type Simulator struct {
	// TimeToFirstToken is the simulated latency before the first token.
	TimeToFirstToken Duration `yaml:"time_to_first_token"`
	// TokensPerSecond is the simulated generation speed (0 = instant).
	TokensPerSecond float64 `yaml:"tokens_per_second"`
	// TPM and RPM are the simulated per-deployment limits. Unset, they are
	// DefaultSimulatorTPM and DefaultSimulatorRPM: high enough never to
	// throttle a load test, but set, so that answers carry Azure's
	// x-ratelimit-* headers. An explicit 0 means unlimited, without headers.
	TPM *int `yaml:"tpm"`
	RPM *int `yaml:"rpm"`
	// ErrorRate, TimeoutRate, DropStreamRate and RateLimitRate inject faults (0..1).
	ErrorRate      float64 `yaml:"error_rate"`
	TimeoutRate    float64 `yaml:"timeout_rate"`
	DropStreamRate float64 `yaml:"drop_stream_rate"`
	RateLimitRate  float64 `yaml:"rate_limit_rate"`
	// Seed makes simulated content reproducible.
	Seed int64 `yaml:"seed"`
	// BatchTime is how long a simulated batch takes to complete (0: 3s).
	BatchTime Duration `yaml:"batch_time"`
}

// Shutdown bounds graceful shutdown.
type Shutdown struct {
	// PreStop is how long /readyz answers 503 "draining" while calls are
	// still served, before the listeners close, so that a load balancer
	// takes the replica out before a connection is refused. Unset means 5s;
	// 0 closes the listeners at once.
	PreStop *Duration `yaml:"pre_stop"`
	// GracePeriod is how long in-flight calls and streams may take to
	// finish once the listeners are closed. Calls still running then are
	// cut and logged with the error kind gateway_shutdown.
	GracePeriod Duration `yaml:"grace_period"`
}

// PreStopD is the pre-stop period, 0 when unset (Parse sets the default).
func (s Shutdown) PreStopD() time.Duration {
	if s.PreStop == nil {
		return 0
	}
	return s.PreStop.D()
}

// Replica identifies one moat process among several sharing a store.
type Replica struct {
	// Name is written into every request-log row (column Replica) and the
	// replicas table. Default: the host name.
	Name string `yaml:"name"`
	// Heartbeat is how often the replica records itself in the shared
	// store's replicas table; moat status calls a replica stale after three
	// missed heartbeats. Default 15s.
	Heartbeat Duration `yaml:"heartbeat"`
}

// LoadOptions change how a file is loaded.
type LoadOptions struct {
	// NoSecrets lets ${ENV} and file: secrets that cannot be resolved stand
	// as placeholders, and certificate, key and CA files be absent, so a
	// config can be validated on a machine that does not hold its secrets
	// (a CI job, a change review).
	NoSecrets bool
}

// Load reads, decodes, defaults and validates the file at path. A file must
// say what it serves: one with no deployments is an error, never a quiet
// fallback to the built-in simulator.
func Load(path string) (*Config, error) { return LoadWith(path, LoadOptions{}) }

// LoadWith is Load with options.
func LoadWith(path string, o LoadOptions) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := parse(b, o, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Default is the configuration moat runs with when no file is found: the
// built-in simulator, authentication disabled, SQLite in ./moat-data.
func Default() *Config {
	c, err := Parse(nil)
	if err != nil {
		panic("config: built-in default does not validate: " + err.Error()) // a bug, caught by tests
	}
	return c
}

// Parse decodes YAML, applies defaults and validates. An empty document is
// the zero-config development setup (simulator upstream, authentication
// disabled), and a document with neither upstreams nor deployments gets the
// simulator too: Parse serves tests and code that build configs. Files go
// through Load, which refuses a config with no deployments.
func Parse(b []byte) (*Config, error) { return parse(b, LoadOptions{}, false) }

func parse(b []byte, o LoadOptions, file bool) (*Config, error) {
	var c Config
	c.fromFile = len(bytes.TrimSpace(b)) > 0
	c.noFiles = o.NoSecrets
	if !c.fromFile && !file {
		c.Auth.Disabled = true
	}
	var errs []error
	if err := decode(b, &c, o.NoSecrets); err != nil {
		if errors.As(err, new(syntaxError)) {
			return nil, err
		}
		errs = append(errs, err)
	}
	if file && len(c.Deployments) == 0 {
		errs = append(errs, errors.New("deployments: none configured; a config file must name what it serves "+
			"(for the built-in simulator, add an upstream with type: simulator and deployments that use it)"))
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &c, nil
}

// Dump renders the config as YAML with secrets redacted.
func (c *Config) Dump() ([]byte, error) { return yaml.Marshal(c) }
