package dataplane

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/netpolicy"
	"github.com/moat-gw/moat/internal/openai"
)

// network is stage 2: it resolves the client address (the socket peer,
// unless a trusted proxy vouches for another) and applies the listener's
// sources and the public network access rules. It runs before any
// authentication, so a denied caller learns nothing about keys or deployments.
func (p *Pipeline) network(r *http.Request, listener string) (netip.Addr, error) {
	client := p.policy.ClientAddr(peerAddr(r), r.Header)
	l := p.listeners[listener]
	d := p.policy.Decide(l, client)
	p.metrics.network.WithLabelValues(listener, string(d.Reason)).Inc()
	if d.Allowed {
		return client, nil
	}
	he := d.HTTPError()
	he.Err = fmt.Errorf("network denied: %s", describeDecision(d))
	if p.denials.allow(listener, string(d.Reason), p.now()) {
		// Sampled: a scanner must not flood the process log. Every denial
		// is still counted and, on the data plane, in the request log.
		p.log.Info("network access denied", "decision", d)
	}
	return client, he
}

// describeDecision names the rule that decided, for the request log.
func describeDecision(d netpolicy.Decision) string {
	s := string(d.Reason) + " listener=" + d.Listener + " client=" + d.Client.String()
	if d.Rule >= 0 {
		s += fmt.Sprintf(" rule=%d prefix=%s", d.Rule, d.Prefix)
	}
	if d.Subnet != "" {
		s += " subnet=" + d.Subnet
	}
	return s
}

// peerAddr is the socket peer of r (after PROXY protocol, if enabled). An
// unparsable address is the zero Addr, which no rule matches.
func peerAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// RefuseNetwork applies listener's network rules to r outside the data
// plane (management plane, health probes). It answers a refused caller as
// the data plane would and reports whether it did.
func (p *Pipeline) RefuseNetwork(w http.ResponseWriter, r *http.Request, listener string) bool {
	if _, err := p.network(r, listener); err != nil {
		setCommonHeaders(w.Header(), p.newID(), p.regionValue)
		httpx.WriteError(w, openai.Errors{}, httpx.From(err))
		return true
	}
	return false
}

func newNetworkMetric(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "moat_network_decisions_total",
		Help: "Network access decisions, by listener and the reason that decided (allowed or denied).",
	}, []string{"listener", "reason"})
	reg.MustRegister(c)
	return c
}

// logSampler lets one log line per listener and reason through each minute.
type logSampler struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (l *logSampler) allow(listener, reason string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	k := listener + "|" + reason
	if t, ok := l.last[k]; ok && now.Sub(t) < time.Minute {
		return false
	}
	l.last[k] = now
	return true
}
