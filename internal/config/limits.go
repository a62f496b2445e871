package config

import (
	"errors"
	"fmt"
	"path"

	"github.com/moat-gw/moat/internal/ratelimit"
	"github.com/moat-gw/moat/internal/route"
)

// Routing tunes how a deployment's pool is walked.
type Routing struct {
	// MaxAttempts bounds upstream attempts per call (failover), default 3.
	MaxAttempts int `yaml:"max_attempts"`
	// DefaultBench is how long a 429 without retry-after benches an upstream. Default 10s.
	DefaultBench Duration `yaml:"default_bench"`
	// MaxBench caps any bench. Default 5m.
	MaxBench Duration `yaml:"max_bench"`
	// Breaker configures the per-upstream circuit breaker.
	Breaker Breaker `yaml:"breaker"`
}

// Breaker configures circuit breaking.
type Breaker struct {
	// ConsecutiveFailures opens the breaker after this many failures in a row (default 5; -1 off).
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// FailureRate opens it when this fraction of calls in Window failed (default 0.5; -1 off).
	FailureRate float64 `yaml:"failure_rate"`
	// MinRequests is the least calls in Window before FailureRate applies (default 20).
	MinRequests int `yaml:"min_requests"`
	// Window is the failure-rate window (default 60s).
	Window Duration `yaml:"window"`
	// OpenFor is how long an open breaker stays open before a probe (default 30s).
	OpenFor Duration `yaml:"open_for"`
}

// DefaultMaxExactCountBytes is rate_limits.max_exact_count_bytes when
// unset: more text than nearly any prompt carries (about 250k tokens of
// prose), and a bounded cost to count, about 7 ms of CPU for prose and
// 65 ms for the costliest text (docs/benchmarks.md, "Tokenizer").
const DefaultMaxExactCountBytes = 1 << 20

// RateLimits configures admission-time limits.
type RateLimits struct {
	// Redis shares counters across replicas; without it limits are per process.
	Redis *Redis `yaml:"redis"`
	// DefaultMaxTokens is the output allowance reserved when a request sets no
	// max_tokens / max_completion_tokens. Default 4096.
	DefaultMaxTokens int `yaml:"default_max_tokens"`
	// MaxExactCountBytes caps the prompt text tokenized exactly per call
	// when a limit counts tokens; text beyond it is reserved at one token
	// per byte, an upper bound that costs a scan instead of a tokenization.
	// Default 1MiB.
	MaxExactCountBytes ByteSize `yaml:"max_exact_count_bytes"`
	// Rules are the limits; each applies per instance of its scope.
	Rules []RateRule `yaml:"rules"`
}

// Redis is a Redis server for shared counters.
type Redis struct {
	// Address is host:port.
	Address string `yaml:"address"`
	// Password authenticates to Redis (a secret).
	Password Secret `yaml:"password"`
	// DB is the database number.
	DB int `yaml:"db"`
	// KeyPrefix namespaces moat's keys (default "moat:rl:").
	KeyPrefix string `yaml:"key_prefix"`
}

// RateRule is one limit, applied separately to every instance of its scope
// (every key, every principal, every deployment, or every pair).
type RateRule struct {
	// Name labels the rule in metrics and logs.
	Name string `yaml:"name"`
	// Scope is key, principal, deployment, key+deployment or principal+deployment.
	Scope ratelimit.Scope `yaml:"scope"`
	// Deployments restricts the rule to these deployment names or globs (empty: all).
	Deployments []string `yaml:"deployments"`
	// TPM is tokens per minute (prompt estimate + output allowance at admission, settled on usage).
	TPM int `yaml:"tpm"`
	// RPM is requests per minute.
	RPM int `yaml:"rpm"`
	// Quota is tokens per QuotaPeriod; it survives restarts when Redis keeps it.
	Quota int64 `yaml:"quota"`
	// QuotaPeriod is hour, day, week, month or year.
	QuotaPeriod string `yaml:"quota_period"`
	// OnRedisDown is fail_closed (default) or local_share.
	OnRedisDown string `yaml:"on_redis_down"`
	// LocalShare is the fraction of the limit each replica enforces alone while Redis is down.
	LocalShare float64 `yaml:"local_share"`
}

// Matches reports whether the rule applies to deployment.
func (r *RateRule) Matches(deployment string) bool {
	if len(r.Deployments) == 0 {
		return true
	}
	for _, g := range r.Deployments {
		if ok, _ := path.Match(g, deployment); ok {
			return true
		}
	}
	return false
}

// Limit builds the limiter's Limit for one scope instance key.
func (r *RateRule) Limit(key string) ratelimit.Limit {
	return ratelimit.Limit{Key: r.Name + "|" + key, TPM: r.TPM, RPM: r.RPM, Quota: r.Quota,
		QuotaPeriod: ratelimit.Period(r.QuotaPeriod), OnBackendDown: ratelimit.BackendDownMode(r.OnRedisDown), LocalShare: r.LocalShare}
}

func (r *Routing) applyDefaults() {
	if r.MaxAttempts == 0 {
		r.MaxAttempts = 3
	}
}

func (rl *RateLimits) applyDefaults() {
	if rl.DefaultMaxTokens == 0 {
		rl.DefaultMaxTokens = 4096
	}
	if rl.MaxExactCountBytes == 0 {
		rl.MaxExactCountBytes = DefaultMaxExactCountBytes
	}
	if rl.Redis != nil && rl.Redis.KeyPrefix == "" {
		rl.Redis.KeyPrefix = "moat:rl:"
	}
	for i := range rl.Rules {
		if rl.Rules[i].Name == "" {
			rl.Rules[i].Name = fmt.Sprintf("rule%d", i)
		}
	}
}

func (rl *RateLimits) validate() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if rl.DefaultMaxTokens < 0 {
		add("rate_limits.default_max_tokens cannot be negative")
	}
	if rl.MaxExactCountBytes < 0 {
		add("rate_limits.max_exact_count_bytes cannot be negative")
	}
	if rl.Redis != nil && rl.Redis.Address == "" {
		add("rate_limits.redis.address is required")
	}
	names := map[string]bool{}
	for i, r := range rl.Rules {
		if names[r.Name] {
			add("rate_limits.rules[%d]: duplicate name %q", i, r.Name)
		}
		names[r.Name] = true
		if !r.Scope.Valid() {
			add("rate_limits.rules[%d] %q: scope must be key, principal, deployment, key+deployment or principal+deployment", i, r.Name)
		}
		for _, g := range r.Deployments {
			if _, err := path.Match(g, ""); err != nil {
				add("rate_limits.rules[%d] %q: bad deployment glob %q", i, r.Name, g)
			}
		}
		l := r.Limit("x")
		if err := l.Validate(); err != nil {
			add("rate_limits.rules[%d] %q: %w", i, r.Name, err)
		}
		if r.OnRedisDown != "" && rl.Redis == nil {
			add("rate_limits.rules[%d] %q: on_redis_down needs rate_limits.redis", i, r.Name)
		}
	}
	return errs
}

func (r *Routing) validate() []error {
	var errs []error
	if r.MaxAttempts < 1 || r.MaxAttempts > 10 {
		errs = append(errs, errors.New("routing.max_attempts must be between 1 and 10"))
	}
	if r.DefaultBench < 0 || r.MaxBench < 0 || r.Breaker.Window < 0 || r.Breaker.OpenFor < 0 {
		errs = append(errs, errors.New("routing durations cannot be negative"))
	}
	if _, err := route.NewPool([]route.Member{{Name: "x"}}, r.PoolOptions()); err != nil {
		errs = append(errs, fmt.Errorf("routing: %w", err))
	}
	return errs
}
