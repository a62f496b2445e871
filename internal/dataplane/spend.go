package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/budget"
	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/cost"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/ratelimit"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/team"
)

// spend is the pipeline's pricing and budgets, built from one config.
type spend struct {
	pricer  *cost.Pricer
	budgets *budget.Set
	webhook *budget.Webhook
}

// spendScope is the per-call state of attribution, cost and budgets: who
// the call is charged to, resolved once from the key cache (the key's
// name, owner and team travel with the cached key) or the team directory's
// snapshot (token principals), never from a store read per call.
type spendScope struct {
	resolved bool
	keyName  string
	owner    string
	team     string
	budget   *budget.Admission
}

// buildSpend builds the pricer and the budgets of cfg over the pipeline's limiter.
func (p *Pipeline) buildSpend(cfg *config.Config) error {
	pr, err := cost.NewPricer(cfg.PricerOptions())
	if err != nil {
		return fmt.Errorf("cost: %w", err)
	}
	p.spend.pricer = pr
	loc, err := cfg.Budgets.Location()
	if err != nil {
		return fmt.Errorf("budgets: %w", err)
	}
	var rules []budget.Rule
	for _, r := range cfg.Budgets.Rules {
		rules = append(rules, budget.Rule{Name: r.Name, Scope: r.Scope, Match: r.Match, Period: ratelimit.Period(r.Period),
			Amount: r.Amount, Tokens: r.Tokens, WarnAt: r.WarnAt,
			OnBackendDown: ratelimit.BackendDownMode(r.OnRedisDown), LocalShare: r.LocalShare})
	}
	if p.spend.budgets, err = budget.New(rules, loc, p.limiter); err != nil {
		return fmt.Errorf("budgets: %w", err)
	}
	if w := cfg.Budgets.Webhook; w != nil {
		log, m := p.log, p.metrics.spend
		p.spend.webhook = budget.NewWebhook(w.URL, w.Timeout.D(), func(err error) {
			if err != nil {
				m.webhook.WithLabelValues("error").Inc()
				log.Warn("budget webhook post failed", "err", err)
				return
			}
			m.webhook.WithLabelValues("ok").Inc()
		})
	}
	return nil
}

// attribute resolves the caller's key name, owner and team once.
func (p *Pipeline) attribute(s *scope) *spendScope {
	a := &s.spend
	if a.resolved {
		return a
	}
	a.resolved = true
	pr := s.principal
	if pr == nil {
		return a
	}
	if k := pr.Key(); k != nil {
		a.keyName, a.owner, a.team = k.Name, k.Owner, k.Team
		return a
	}
	if pr.Type == auth.TypeEntra || pr.Type == auth.TypeOIDC {
		a.team = p.teams.Team(team.Caller{ObjectID: pr.ObjectID(), AppID: pr.AppID, Groups: pr.Groups})
	}
	return a
}

// callKind is the per-call price that applies to the operation.
func callKind(op string) cost.CallKind {
	switch op {
	case "images":
		return cost.CallImage
	case "transcriptions", "translations":
		return cost.CallAudio
	}
	return cost.CallTokens
}

// admitBudget is stage 8b: after the limits, the call's estimated cost
// (the prompt and the output cap, priced at the dearest token kinds) and
// tokens are reserved against every budget that applies; an exhausted
// budget answers as APIM answers an exhausted quota (403).
func (p *Pipeline) admitBudget(ctx context.Context, s *scope) error {
	if p.spend.budgets.Empty() {
		return nil
	}
	a := p.attribute(s)
	keyID := ""
	if s.principal != nil && s.principal.Type == auth.TypeKey {
		keyID = s.caller
	}
	call := budget.Call{Team: a.team, Key: keyID, Deployment: s.deployment.name}
	if !p.spend.budgets.Applies(call) {
		return nil
	}
	prompt, err := p.promptTokens(ctx, s)
	if err != nil { // the client left while its prompt was counted
		return httpx.Gone(httpx.KindClientCanceled, err)
	}
	output := 0
	if s.call.Operation.ReservesOutput {
		if output = s.req.OutputCap(); output <= 0 {
			output = p.defaultMaxTokens
		}
	}
	est := p.spend.pricer.Ceiling(s.deployment.name, prompt, output, callKind(s.call.Operation.Name))
	adm, warns, err := p.spend.budgets.Admit(ctx, p.now(), call, est, prompt+output)
	if err != nil {
		var d *budget.Denied
		if errors.As(err, &d) {
			p.metrics.spend.denied.WithLabelValues(d.Budget).Inc()
			return d.HTTPError()
		}
		var rd *ratelimit.Denial // the shared store is down and the budget fails closed
		if errors.As(err, &rd) {
			return rd.HTTPError(s.call.Operation.ID, s.call.APIVersion)
		}
		return httpx.Internal(http.StatusInternalServerError, httpx.KindGatewayInternal, err)
	}
	a.budget = adm
	adm.Used(func(b, inst, unit string, ratio float64) {
		p.metrics.spend.used.WithLabelValues(b, inst, unit).Set(ratio)
	})
	for _, w := range warns {
		p.metrics.spend.warnings.WithLabelValues(w.Budget).Inc()
		p.log.Warn("budget warning threshold crossed", "budget", w.Budget, "scope", w.Scope, "instance", w.Instance,
			"unit", w.Unit, "used", w.Used, "limit", w.Limit, "period_start", w.PeriodStart)
		p.spend.webhook.Post(w, p.spend.pricer.Currency(), p.now())
	}
	return nil
}

// spendRecord prices the call from its real usage, settles its budgets and
// writes attribution and cost into its record.
func (p *Pipeline) spendRecord(ctx context.Context, s *scope, rec *reqlog.Record) {
	a := p.attribute(s)
	rec.KeyName, rec.Owner, rec.Team = a.keyName, a.owner, a.team
	if s.deployment == nil {
		return
	}
	if s.attempts > 0 {
		u := s.usage
		c, ok := p.spend.pricer.Cost(s.deployment.name, cost.Usage{PromptTokens: u.PromptTokens, CachedTokens: u.CachedTokens,
			AudioPromptTokens: u.AudioPromptTokens, CompletionTokens: u.CompletionTokens, ReasoningTokens: u.ReasoningTokens,
			AudioCompletionTokens: u.AudioCompletionTokens}, callKind(s.call.Operation.Name))
		if ok {
			rec.Cost, rec.PriceVersion = c, p.spend.pricer.Version()
			if c > 0 {
				p.metrics.spend.cost.WithLabelValues(s.deployment.name, a.team, p.spend.pricer.Currency()).Add(c)
			}
		} else {
			p.metrics.spend.unpriced.WithLabelValues(s.deployment.name).Inc()
		}
	}
	if a.budget == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if s.attempts == 0 {
		a.budget.Cancel(ctx, p.now())
		return
	}
	if err := a.budget.Settle(ctx, p.now(), rec.Cost, s.usage.TotalTokens); err != nil {
		p.log.Warn("settle budget reservation", "request_id", s.id, "err", err)
	}
}
