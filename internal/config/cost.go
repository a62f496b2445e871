package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"github.com/moat-gw/moat/internal/cost"
	"github.com/moat-gw/moat/internal/ratelimit"
)

// Cost prices calls (docs/cost.md): the price table built into moat, with
// overrides. Every request-log row gets a cost and the price version.
type Cost struct {
	// Currency of the prices (ISO 4217); empty means the built-in table's,
	// USD. Another currency drops the built-in table: only prices price calls.
	Currency string `yaml:"currency"`
	// Prices override the built-in list prices per model or per deployment.
	Prices []PriceOverride `yaml:"prices"`
	// Provisioned lists the deployments billed as provisioned throughput
	// (PTU): their calls cost 0 at the margin.
	Provisioned []string `yaml:"provisioned"`
}

// PriceOverride sets some prices of one model (every deployment serving
// it) or of one deployment; unset prices keep the table's. Token prices
// are per million tokens; image_call and audio_call per call.
type PriceOverride struct {
	// Model is a model name as in deployments[].model (dated versions included).
	Model string `yaml:"model"`
	// Deployment is a deployment name; it wins over a model override.
	Deployment string `yaml:"deployment"`
	// Input is the price of prompt tokens.
	Input *float64 `yaml:"input"`
	// CachedInput is the price of prompt tokens served from the prompt cache (default: input).
	CachedInput *float64 `yaml:"cached_input"`
	// Output is the price of completion tokens.
	Output *float64 `yaml:"output"`
	// Reasoning is the price of reasoning tokens (default: output).
	Reasoning *float64 `yaml:"reasoning"`
	// Audio is the price of audio tokens, in and out (default: the text prices).
	Audio *float64 `yaml:"audio"`
	// ImageCall is the price of one image generation call.
	ImageCall *float64 `yaml:"image_call"`
	// AudioCall is the price of one transcription or translation call.
	AudioCall *float64 `yaml:"audio_call"`
}

// PricerOptions converts the cost settings for cost.NewPricer.
func (c *Config) PricerOptions() cost.Options {
	o := cost.Options{Currency: c.Cost.Currency, Provisioned: c.Cost.Provisioned, Deployments: map[string]string{}}
	for _, d := range c.Deployments {
		o.Deployments[d.Name] = d.Model
	}
	for _, p := range c.Cost.Prices {
		o.Overrides = append(o.Overrides, cost.Override{Model: p.Model, Deployment: p.Deployment, Price: cost.PartialPrice{
			Input: p.Input, CachedInput: p.CachedInput, Output: p.Output, Reasoning: p.Reasoning,
			Audio: p.Audio, ImageCall: p.ImageCall, AudioCall: p.AudioCall}})
	}
	return o
}

// Budgets cap what a team, a key or a deployment spends per calendar day
// or month, in currency, tokens or both (docs/cost.md). They are reserved
// at admission and settled to the real cost like token limits, and shared
// by every replica through rate_limits.redis.
type Budgets struct {
	// TimeZone is the IANA time zone whose calendar days and months budgets
	// count in, e.g. Asia/Tokyo (default UTC).
	TimeZone string `yaml:"time_zone"`
	// Webhook, when set, receives a JSON POST when a budget crosses its warning threshold.
	Webhook *BudgetWebhook `yaml:"webhook"`
	// Rules are the budgets; each applies separately to every instance of its scope.
	Rules []BudgetRule `yaml:"rules"`
}

// BudgetWebhook is where budget warnings are posted. The body names the
// budget, its scope instance (a team name, key ID or deployment), the
// period and the amounts; never a secret.
type BudgetWebhook struct {
	// URL is http(s) on an address inside the network: a private, loopback
	// or link-local IP, or a name that resolves to one (checked when moat
	// connects, so a name cannot lead outside).
	URL string `yaml:"url"`
	// Timeout bounds one POST (default 2s).
	Timeout Duration `yaml:"timeout"`
}

// BudgetRule is one budget.
type BudgetRule struct {
	// Name labels the budget in metrics, logs and warnings.
	Name string `yaml:"name"`
	// Scope is team, key or deployment.
	Scope string `yaml:"scope"`
	// Match lists the team names, key IDs or deployment names the budget
	// applies to; empty means every one, each with its own budget.
	Match []string `yaml:"match"`
	// Period is day or month (calendar, in time_zone).
	Period string `yaml:"period"`
	// Amount caps the cost per period, in cost.currency.
	Amount float64 `yaml:"amount"`
	// Tokens caps prompt+completion tokens per period.
	Tokens int64 `yaml:"tokens"`
	// WarnAt is the used fraction that warns (metric, log line, webhook), default 0.8; 1 never warns.
	WarnAt float64 `yaml:"warn_at"`
	// OnRedisDown is fail_closed (default) or local_share, as for rate limits.
	OnRedisDown string `yaml:"on_redis_down"`
	// LocalShare is the fraction each replica enforces alone while Redis is down.
	LocalShare float64 `yaml:"local_share"`
}

// DefaultBudgetWarnAt is budgets.rules[].warn_at when unset.
const DefaultBudgetWarnAt = 0.8

// DefaultWebhookTimeout is budgets.webhook.timeout when unset.
const DefaultWebhookTimeout = 2 * time.Second

// Location loads the budgets' time zone.
func (b *Budgets) Location() (*time.Location, error) {
	if b.TimeZone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(b.TimeZone)
}

var budgetScopes = map[string]bool{"team": true, "key": true, "deployment": true}

func (c *Config) validateCost() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if _, err := cost.NewPricer(c.PricerOptions()); err != nil {
		errs = append(errs, plainErrors("", err)...)
	}
	b := &c.Budgets
	if _, err := b.Location(); err != nil {
		add("budgets.time_zone %q: %v", b.TimeZone, err)
	}
	if w := b.Webhook; w != nil {
		if err := validateWebhook(w.URL); err != nil {
			add("budgets.webhook.url: %v", err)
		}
		if w.Timeout < 0 {
			add("budgets.webhook.timeout cannot be negative")
		}
	}
	names := map[string]bool{}
	for i, r := range b.Rules {
		where := fmt.Sprintf("budgets.rules[%d] %q", i, r.Name)
		if r.Name == "" {
			add("budgets.rules[%d]: name is required", i)
		} else if names[r.Name] {
			add("%s: duplicate name", where)
		}
		names[r.Name] = true
		if !budgetScopes[r.Scope] {
			add("%s: scope must be team, key or deployment", where)
		}
		if r.Period != "day" && r.Period != "month" {
			add("%s: period must be day or month", where)
		}
		if r.Amount < 0 || r.Tokens < 0 || r.Amount != r.Amount {
			add("%s: amount and tokens cannot be negative", where)
		}
		if r.Amount == 0 && r.Tokens == 0 {
			add("%s: set amount, tokens or both", where)
		}
		if r.Amount > 1e12 {
			add("%s: amount above 10^12", where)
		}
		if r.WarnAt < 0 || r.WarnAt > 1 {
			add("%s: warn_at must be between 0 and 1", where)
		}
		l := ratelimit.Limit{Key: "x", Quota: 1, QuotaPeriod: ratelimit.PeriodDay,
			OnBackendDown: ratelimit.BackendDownMode(r.OnRedisDown), LocalShare: r.LocalShare}
		if err := l.Validate(); err != nil {
			add("%s: %v", where, err)
		}
		if r.OnRedisDown != "" && c.RateLimits.Redis == nil {
			add("%s: on_redis_down needs rate_limits.redis", where)
		}
	}
	return errs
}

// validateWebhook accepts http(s) URLs whose host, when an IP literal, is
// inside the network; names are checked when moat dials them.
func validateWebhook(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http or https URL")
	}
	if u.User != nil {
		return errors.New("must not carry credentials")
	}
	if a, err := netip.ParseAddr(u.Hostname()); err == nil && !InsideNetwork(a) {
		return fmt.Errorf("%s is not a private, loopback or link-local address", a)
	}
	return nil
}

// InsideNetwork reports whether a is an address a webhook may reach:
// private (RFC 1918, RFC 4193), loopback or link-local.
func InsideNetwork(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast()
}
