package dataplane

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/redact"
	"github.com/moat-gw/moat/internal/reqlog"
)

// protection is a pipeline's prompt data protection, built once from the
// config: which deployments log bodies, the redaction applied to logged
// bodies before they reach the spool or the store, and the guardrails of
// each deployment (docs/data-protection.md).
type protection struct {
	redact *redact.Set // nil when log.redact.disabled
	// bodies and guards are by deployment name; calls that reached no
	// deployment log bodies under log.bodies.
	bodies      map[string]bool
	bodiesOther bool
	prompt      map[string]*redact.Guard
	completion  map[string]*redact.Guard
}

// newProtection compiles the rules (validated at load, so errors here are
// impossible in practice but still reported).
func newProtection(cfg *config.Config) (*protection, error) {
	rules, err := cfg.Log.Redact.Rules()
	if err != nil {
		return nil, err
	}
	pr := &protection{bodies: map[string]bool{}, bodiesOther: cfg.Log.Bodies,
		prompt: map[string]*redact.Guard{}, completion: map[string]*redact.Guard{}}
	if len(rules) > 0 {
		pr.redact = redact.NewSet(rules...)
	}
	compiled := make([]redact.Rule, len(cfg.Guardrails))
	for i, g := range cfg.Guardrails {
		if compiled[i], err = g.Rule(); err != nil {
			return nil, err
		}
	}
	for i := range cfg.Deployments {
		d := &cfg.Deployments[i]
		pr.bodies[d.Name] = cfg.LogsBodies(d)
		var in, out []redact.GuardRule
		for j, g := range cfg.Guardrails {
			if !g.Applies(d.Name) {
				continue
			}
			gr := redact.GuardRule{Rule: compiled[j], Action: g.Action}
			if g.ApplyTo != "completion" {
				in = append(in, gr)
			}
			if g.ApplyTo != "prompt" {
				out = append(out, gr)
			}
		}
		pr.prompt[d.Name], pr.completion[d.Name] = redact.NewGuard(in), redact.NewGuard(out)
	}
	return pr, nil
}

// logsBodies reports whether s's bodies go to the request log.
func (p *Pipeline) logsBodies(s *scope) bool {
	if s.deployment == nil {
		return p.protect.bodiesOther
	}
	return p.protect.bodies[s.deployment.name]
}

// redactMargin is how far past the logged length a body is redacted before
// it is cut, so that a match straddling the cut is still found whole.
const redactMargin = 4 << 10

// logBodies fills the record's bodies, redacted, then cut to the logged
// length: nothing unredacted reaches the spool or the store.
func (p *Pipeline) logBodies(rec *reqlog.Record, s *scope) {
	reqBody := s.body
	var respBody []byte
	if s.streamed {
		respBody = []byte(s.streamText()) // the assembled text of the stream
	} else {
		respBody = s.respBody
	}
	rec.RequestBody = p.redactBody(reqBody)
	rec.ResponseBody = p.redactBody(respBody)
}

// redactBody returns b redacted and cut to log.max_body_log_bytes.
func (p *Pipeline) redactBody(b []byte) string {
	if p.protect.redact == nil || len(b) == 0 {
		return reqlog.TruncatedBytes(b, p.maxBodyLog)
	}
	if len(b) > p.maxBodyLog+redactMargin {
		b = b[:p.maxBodyLog+redactMargin] // cut anyway: no longer JSON, redacted as text
	}
	out, hits := p.protect.redact.Body(b)
	for _, h := range hits {
		p.metrics.redactions.WithLabelValues(h).Inc()
	}
	return reqlog.TruncatedBytes(out, p.maxBodyLog)
}

// protectMetrics count what redaction and guardrails found.
type protectMetrics struct {
	redactions *prometheus.CounterVec
	guardHits  *prometheus.CounterVec
}

func newProtectMetrics(reg prometheus.Registerer) protectMetrics {
	m := protectMetrics{
		redactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_redactions_total",
			Help: "Logged bodies in which a redaction rule matched, by rule (built-in class or configured name).",
		}, []string{"rule"}),
		guardHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_guardrail_hits_total",
			Help: "Guardrail matches, by deployment, direction (prompt, completion), action (block, mask, flag) and rule.",
		}, []string{"deployment", "direction", "action", "rule"}),
	}
	reg.MustRegister(m.redactions, m.guardHits)
	return m
}

// RedactText applies the log's redaction rules to text (a log query kept
// in the audit log); without rules it returns text as is.
func (p *Pipeline) RedactText(text []byte) []byte {
	if p.protect.redact == nil {
		return text
	}
	out, _ := p.protect.redact.Text(text)
	return out
}
