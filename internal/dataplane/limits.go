package dataplane

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/ratelimit"
)

// admit is stage 8: it estimates the call's tokens offline (an upper bound
// of the prompt, exact near a limit, plus the output allowance) and
// reserves them, with one request, against every limit
// that applies, all or nothing. The reservation is settled with the real
// usage when the call ends, so concurrent calls cannot overshoot a limit.
func (p *Pipeline) admit(ctx context.Context, s *scope) error {
	k := principalKey(s)
	keyLimited := k != nil && (k.Limits.TPM > 0 || k.Limits.RPM > 0)
	if p.limiter == nil || (len(p.rateRules) == 0 && !keyLimited) {
		return nil // nothing to reserve; prompt tokens are counted only if usage is missing
	}
	// Room for every rule and the key's own limits, made once: the
	// requests point into lims, which therefore never grows.
	n := len(p.rateRules)
	if keyLimited {
		n++
	}
	reqs := make([]ratelimit.Request, 0, n)
	lims := make([]ratelimit.Limit, 0, n)
	for i := range p.rateRules {
		r := &p.rateRules[i]
		if !r.Matches(s.deployment.name) {
			continue
		}
		key := scopeKey(r.Scope, s)
		if key == "" {
			continue
		}
		lims = append(lims, r.Limit(key))
		reqs = append(reqs, ratelimit.Request{Limit: &lims[len(lims)-1]})
	}
	if keyLimited {
		lims = append(lims, ratelimit.Limit{Key: "keylimits|" + k.ID, TPM: k.Limits.TPM, RPM: k.Limits.RPM})
		reqs = append(reqs, ratelimit.Request{Limit: &lims[len(lims)-1]})
	}
	if len(reqs) == 0 {
		return nil
	}
	// Request-only limits reserve no tokens; token limits reserve on an
	// upper bound of the prompt and count it exactly only near the limit
	// (admission.go).
	countsTokens := false
	for _, r := range reqs {
		countsTokens = countsTokens || r.Limit.TPM > 0 || r.Limit.Quota > 0
	}
	var res *ratelimit.Reservation
	var err error
	if countsTokens {
		res, err = p.admitTokens(ctx, s, reqs)
	} else {
		res, err = p.limiter.Reserve(ctx, p.now(), reqs)
	}
	if err != nil {
		var d *ratelimit.Denial
		var he *httpx.Error
		if errors.As(err, &he) {
			return err
		}
		if errors.As(err, &d) {
			p.metrics.limited.WithLabelValues(string(d.Kind)).Inc()
			v := s.call.APIVersion
			if v == "" {
				v = "v1"
			}
			return d.HTTPError(s.call.Operation.ID, v)
		}
		return httpx.Internal(http.StatusInternalServerError, httpx.KindGatewayInternal, err)
	}
	s.reservation = res
	return nil
}

// scopeKey names the counter a rule uses for this call; "" when the rule's
// scope does not apply (a key rule on a token call).
func scopeKey(scope ratelimit.Scope, s *scope) string {
	isKey := s.principal != nil && s.principal.Type == auth.TypeKey
	return scope.Key(s.deployment.name, s.caller, isKey)
}

// settle charges the reservation what the call really used: its usage, or
// nothing when no upstream was called. A client that left is still charged.
func (p *Pipeline) settle(ctx context.Context, s *scope) {
	res := s.reservation
	if res == nil {
		return
	}
	p.loose.remove(s.loose)
	ctx = context.WithoutCancel(ctx)
	if !res.InMemory() { // only a store can hold a call's end for long
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
	}
	var err error
	if s.attempts == 0 {
		err = res.Cancel(ctx, p.now())
	} else {
		err = res.Settle(ctx, p.now(), s.usage.TotalTokens)
	}
	if err != nil {
		p.log.Warn("settle rate-limit reservation", "request_id", s.id, "err", err)
	}
}

// principalKey is the calling key's record, or nil for tokens and anonymous calls.
func principalKey(s *scope) *auth.Key {
	if s.principal == nil {
		return nil
	}
	return s.principal.Key()
}

// promptTokens counts the prompt offline, once, when a limit or a response
// without usage needs it: it is the costliest step on the request path, so
// it stops when ctx ends and tokenizes at most maxExactCount bytes exactly
// (the rest is bounded from above, so a reservation never under-counts).
func (p *Pipeline) promptTokens(ctx context.Context, s *scope) (int, error) {
	if !s.promptCounted {
		s.promptCounted = true
		if !s.call.Operation.Multipart && s.req != nil {
			s.promptEstimate, s.promptErr = p.tokens.PromptWithin(ctx, s.deployment.model, s.req, p.maxExactCount)
		}
	}
	return s.promptEstimate, s.promptErr
}
