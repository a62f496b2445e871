// Package budget caps what a team, a key or a deployment spends per
// calendar day or month, in currency and in tokens. It adds no counter
// machinery of its own: each budget instance is a ratelimit.Limit with a
// quota, reserved at admission with an estimate (the prompt and the output
// cap, priced at the dearest token kind) and settled to the real cost, so
// budgets share the limiter's Redis scripts, its fail-closed or local-share
// behaviour when Redis is down, and its re-seeding after Redis loses data.
// Currency is counted in micro-units (10^-6 of the currency) so that the
// limiter's integer counters hold it exactly.
package budget

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/moat-gw/moat/internal/ratelimit"
)

// Scopes a budget applies to.
const (
	ScopeTeam       = "team"
	ScopeKey        = "key"
	ScopeDeployment = "deployment"
)

// Units a budget instance counts.
const (
	UnitCost   = "cost"
	UnitTokens = "tokens"
)

// Micros is how many counter units one unit of currency is.
const Micros = 1_000_000

// Rule is one budget as configured.
type Rule struct {
	Name   string
	Scope  string
	Match  []string // instances it applies to; empty means each one
	Period ratelimit.Period
	// Amount caps cost per period (currency); 0 means no cost cap.
	Amount float64
	// Tokens caps prompt+completion tokens per period; 0 means no token cap.
	Tokens int64
	// WarnAt is the used fraction that warns; 1 or more never warns.
	WarnAt        float64
	OnBackendDown ratelimit.BackendDownMode
	LocalShare    float64
}

// Call is who and what a call charges.
type Call struct {
	Team       string
	Key        string // key ID, for key principals
	Deployment string
}

func (c Call) instance(scope string) string {
	switch scope {
	case ScopeTeam:
		return c.Team
	case ScopeKey:
		return c.Key
	case ScopeDeployment:
		return c.Deployment
	}
	return ""
}

// Warning says a budget instance crossed its threshold.
type Warning struct {
	Budget   string
	Scope    string
	Instance string
	Unit     string
	// Used and Limit are in currency for UnitCost, tokens for UnitTokens;
	// Used includes the estimates of calls still running.
	Used, Limit float64
	Period      ratelimit.Period
	PeriodStart time.Time
}

// Set is the budgets of one config, over a limiter shared with rate limits.
// It is safe for concurrent use.
type Set struct {
	rules   []Rule
	loc     *time.Location
	limiter ratelimit.Limiter

	mu     sync.Mutex
	limits map[string]*ratelimit.Limit // by limit key; built once per instance
	warned map[string]int64            // limit key -> period start already warned
}

// New checks rules and returns a Set; loc is the calendar's time zone (nil: UTC).
func New(rules []Rule, loc *time.Location, limiter ratelimit.Limiter) (*Set, error) {
	var errs []error
	for _, r := range rules {
		if r.Amount < 0 || r.Tokens < 0 || (r.Amount == 0 && r.Tokens == 0) {
			errs = append(errs, fmt.Errorf("budget %s: set a positive amount, tokens or both", r.Name))
		}
		if r.Period != ratelimit.PeriodDay && r.Period != ratelimit.PeriodMonth {
			errs = append(errs, fmt.Errorf("budget %s: period %q is not day or month", r.Name, r.Period))
		}
		switch r.Scope {
		case ScopeTeam, ScopeKey, ScopeDeployment:
		default:
			errs = append(errs, fmt.Errorf("budget %s: scope %q is not team, key or deployment", r.Name, r.Scope))
		}
	}
	if len(rules) > 0 && limiter == nil {
		errs = append(errs, errors.New("budgets need a limiter"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if loc == nil {
		loc = time.UTC
	}
	return &Set{rules: rules, loc: loc, limiter: limiter, limits: map[string]*ratelimit.Limit{}, warned: map[string]int64{}}, nil
}

// Empty reports whether the set has no budgets, so callers skip estimating.
func (s *Set) Empty() bool { return s == nil || len(s.rules) == 0 }

// Applies reports whether any budget counts c, so that a call no budget
// counts costs no prompt count.
func (s *Set) Applies(c Call) bool {
	if s.Empty() {
		return false
	}
	for i := range s.rules {
		if s.rules[i].applies(c) {
			return true
		}
	}
	return false
}

func (r *Rule) applies(c Call) bool {
	inst := c.instance(r.Scope)
	return inst != "" && (len(r.Match) == 0 || slices.Contains(r.Match, inst))
}

// limit returns the counter of one rule instance and unit.
func (s *Set) limit(r *Rule, inst, unit string) *ratelimit.Limit {
	key := "budget|" + r.Name + "|" + r.Scope + ":" + inst + "|" + unit
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.limits[key]; l != nil {
		return l
	}
	q := r.Tokens
	if unit == UnitCost {
		q = toMicros(r.Amount)
	}
	l := &ratelimit.Limit{Key: key, Quota: q, QuotaPeriod: r.Period, QuotaZone: s.loc,
		OnBackendDown: r.OnBackendDown, LocalShare: r.LocalShare}
	s.limits[key] = l
	return l
}

func toMicros(v float64) int64 {
	if v <= 0 {
		return 0
	}
	m := v * Micros
	if m >= 1<<62 {
		return 1 << 62
	}
	n := int64(m)
	if float64(n) < m {
		n++ // round up: a charge never under-counts
	}
	return n
}

// part is one rule instance's charge within a call.
type part struct {
	rule *Rule
	inst string
	unit string
	res  *ratelimit.Reservation
}

// Admission is a call's budget charges, to be settled when it ends.
type Admission struct {
	set   *Set
	parts []part
}

// Denied is a call refused by an exhausted budget.
type Denied struct {
	Budget     string
	Unit       string
	RetryAfter time.Duration
	Err        *ratelimit.Denial
}

func (d *Denied) Error() string {
	return fmt.Sprintf("budget %s (%s) exhausted: retry after %v", d.Budget, d.Unit, d.RetryAfter)
}

func (d *Denied) Unwrap() error { return d.Err }

// Admit reserves the call's estimated cost and tokens against every budget
// that applies, one reservation per budget instance and unit, so that each
// one's remaining amount is known for warnings. When one refuses, those
// already made are cancelled and a *Denied (or the limiter's error) is
// returned. Warnings lists the instances whose use crossed their threshold.
func (s *Set) Admit(ctx context.Context, now time.Time, c Call, estCost float64, estTokens int) (*Admission, []Warning, error) {
	if s.Empty() {
		return nil, nil, nil
	}
	a := &Admission{set: s}
	var warns []Warning
	for i := range s.rules {
		r := &s.rules[i]
		if !r.applies(c) {
			continue
		}
		inst := c.instance(r.Scope)
		for _, unit := range [...]string{UnitCost, UnitTokens} {
			var amount int
			switch {
			case unit == UnitCost && r.Amount > 0:
				amount = int(toMicros(estCost))
			case unit == UnitTokens && r.Tokens > 0:
				amount = estTokens
			default:
				continue
			}
			l := s.limit(r, inst, unit)
			res, err := s.limiter.Reserve(ctx, now, []ratelimit.Request{{Limit: l, Tokens: amount}})
			if err != nil {
				a.Cancel(ctx, now)
				var d *ratelimit.Denial
				if errors.As(err, &d) && d.Kind == ratelimit.DeniedQuota {
					return nil, nil, &Denied{Budget: r.Name, Unit: unit, RetryAfter: d.RetryAfter, Err: d}
				}
				return nil, nil, err
			}
			a.parts = append(a.parts, part{rule: r, inst: inst, unit: unit, res: res})
			if w, ok := s.warning(r, inst, unit, l, res, now); ok {
				warns = append(warns, w)
			}
		}
	}
	return a, warns, nil
}

// warning reports an instance whose use crossed its threshold, once per
// period per Set.
func (s *Set) warning(r *Rule, inst, unit string, l *ratelimit.Limit, res *ratelimit.Reservation, now time.Time) (Warning, bool) {
	warnAt := r.WarnAt
	if warnAt <= 0 {
		warnAt = 0.8
	}
	if warnAt >= 1 || res.RemainingQuota < 0 || l.Quota <= 0 {
		return Warning{}, false
	}
	used := l.Quota - res.RemainingQuota
	if float64(used) < warnAt*float64(l.Quota) {
		return Warning{}, false
	}
	start, _ := r.Period.BoundsIn(now, s.loc)
	s.mu.Lock()
	already := s.warned[l.Key] == start.Unix()
	s.warned[l.Key] = start.Unix()
	s.mu.Unlock()
	if already {
		return Warning{}, false
	}
	w := Warning{Budget: r.Name, Scope: r.Scope, Instance: inst, Unit: unit,
		Used: float64(used), Limit: float64(l.Quota), Period: r.Period, PeriodStart: start}
	if unit == UnitCost {
		w.Used, w.Limit = w.Used/Micros, w.Limit/Micros
	}
	return w, true
}

// Used returns, per part, the fraction of its budget used after admission
// (estimates included), for the used-ratio gauge.
func (a *Admission) Used(fn func(budget, instance, unit string, ratio float64)) {
	if a == nil {
		return
	}
	for _, p := range a.parts {
		l := a.set.limit(p.rule, p.inst, p.unit)
		if p.res.RemainingQuota >= 0 && l.Quota > 0 {
			fn(p.rule.Name, p.inst, p.unit, float64(l.Quota-p.res.RemainingQuota)/float64(l.Quota))
		}
	}
}

// Settle charges every budget what the call really cost and used.
func (a *Admission) Settle(ctx context.Context, now time.Time, actualCost float64, actualTokens int) error {
	if a == nil {
		return nil
	}
	var errs []error
	for _, p := range a.parts {
		amount := actualTokens
		if p.unit == UnitCost {
			amount = int(toMicros(actualCost))
		}
		if err := p.res.Settle(ctx, now, amount); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Cancel refunds every charge: the upstream was never called.
func (a *Admission) Cancel(ctx context.Context, now time.Time) {
	if a == nil {
		return
	}
	for _, p := range a.parts {
		_ = p.res.Cancel(ctx, now)
	}
}
