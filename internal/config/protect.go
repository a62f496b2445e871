package config

import (
	"errors"
	"fmt"
	"path"

	"github.com/moat-gw/moat/internal/redact"
)

// Redact is the redaction applied to logged bodies before they reach the
// spool or the store.
type Redact struct {
	// Disabled stores bodies as they came. Off by default: logged bodies
	// are redacted.
	Disabled bool `yaml:"disabled"`
	// Builtins lists the built-in rules: email, phone, card, my_number.
	// Default: all four.
	Builtins []string `yaml:"builtins"`
	// Patterns are custom rules (Go RE2 regular expressions).
	Patterns []Pattern `yaml:"patterns"`
}

// Pattern is a custom redaction or guardrail pattern.
type Pattern struct {
	// Name is the class written into the replacement, "[REDACTED:<name>]":
	// a-z, 0-9 and _.
	Name string `yaml:"name"`
	// Regex is a Go RE2 regular expression; one that matches the empty
	// string is refused.
	Regex string `yaml:"regex"`
}

// Guardrail is one rule checked on prompts, completions or both.
type Guardrail struct {
	// Name names the rule in the request log and metrics. Default: builtin.
	Name string `yaml:"name"`
	// Builtin is a built-in class (email, phone, card, my_number); set
	// either it or regex.
	Builtin string `yaml:"builtin"`
	// Regex is a Go RE2 regular expression.
	Regex string `yaml:"regex"`
	// Action is block, mask or flag.
	Action string `yaml:"action"`
	// ApplyTo is prompt, completion or both. Default both.
	ApplyTo string `yaml:"apply_to"`
	// Deployments limits the rule to these deployments (path globs such as
	// "gpt-4o*"). Default: every deployment.
	Deployments []string `yaml:"deployments"`
}

// Rule compiles the guardrail's match rule.
func (g Guardrail) Rule() (redact.Rule, error) {
	if g.Regex != "" {
		return redact.Custom(g.Name, g.Regex)
	}
	r, ok := redact.Builtin(g.Builtin)
	if !ok {
		return redact.Rule{}, fmt.Errorf("unknown builtin %q (want email, phone, card or my_number)", g.Builtin)
	}
	if g.Name != "" && g.Name != g.Builtin {
		// Renamed: the same matcher under the configured name.
		return redact.Rename(r, g.Name)
	}
	return r, nil
}

// Applies reports whether the rule covers deployment dep.
func (g Guardrail) Applies(dep string) bool {
	if len(g.Deployments) == 0 {
		return true
	}
	for _, p := range g.Deployments {
		if ok, _ := path.Match(p, dep); ok {
			return true
		}
	}
	return false
}

// Rules compiles the redaction rules; nil when redaction is disabled.
func (r Redact) Rules() ([]redact.Rule, error) {
	if r.Disabled {
		return nil, nil
	}
	names := r.Builtins
	if names == nil {
		names = redact.BuiltinNames()
	}
	var out []redact.Rule
	var errs []error
	for _, n := range names {
		b, ok := redact.Builtin(n)
		if !ok {
			errs = append(errs, fmt.Errorf("log.redact.builtins: unknown %q (want email, phone, card or my_number)", n))
		}
		out = append(out, b)
	}
	for i, p := range r.Patterns {
		c, err := redact.Custom(p.Name, p.Regex)
		if err != nil {
			errs = append(errs, fmt.Errorf("log.redact.patterns[%d]: %w", i, err))
		}
		out = append(out, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// LogsBodies reports whether calls to d have their bodies logged:
// d.log_bodies when set, else log.bodies.
func (c *Config) LogsBodies(d *Deployment) bool {
	if d != nil && d.LogBodies != nil {
		return *d.LogBodies
	}
	return c.Log.Bodies
}

// validateProtection checks redaction, body retention and guardrails.
func (c *Config) validateProtection() []error {
	var errs []error
	if _, err := c.Log.Redact.Rules(); err != nil {
		errs = append(errs, err)
	}
	if c.Log.BodyRetention < 0 {
		errs = append(errs, fmt.Errorf("log.body_retention cannot be negative"))
	}
	if c.Log.BodyRetention > 0 && c.Log.Retention > 0 && c.Log.BodyRetention > c.Log.Retention {
		errs = append(errs, fmt.Errorf("log.body_retention (%s) must not be longer than log.retention (%s)", c.Log.BodyRetention.D(), c.Log.Retention.D()))
	}
	names := map[string]bool{}
	for i, g := range c.Guardrails {
		where := fmt.Sprintf("guardrails[%d]", i)
		if (g.Builtin == "") == (g.Regex == "") {
			errs = append(errs, fmt.Errorf("%s: set exactly one of builtin or regex", where))
			continue
		}
		if g.Regex != "" && g.Name == "" {
			errs = append(errs, fmt.Errorf("%s: a regex rule needs a name", where))
			continue
		}
		if _, err := g.Rule(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		switch g.Action {
		case redact.Block, redact.Mask, redact.Flag:
		default:
			errs = append(errs, fmt.Errorf("%s: action must be block, mask or flag, not %q", where, g.Action))
		}
		switch g.ApplyTo {
		case "prompt", "completion", "both":
		default:
			errs = append(errs, fmt.Errorf("%s: apply_to must be prompt, completion or both, not %q", where, g.ApplyTo))
		}
		for _, p := range g.Deployments {
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("%s: deployments: bad pattern %q", where, p))
			}
		}
		name := g.Name
		if name == "" {
			name = g.Builtin
		}
		if names[name] {
			errs = append(errs, fmt.Errorf("%s: duplicate name %q", where, name))
		}
		names[name] = true
	}
	return errs
}
