package gateway

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/netpolicy"
)

// network is stage 2: it resolves the client address (the socket peer,
// unless a trusted proxy vouches for another) and applies the listener's
// sources and the public network access rules. It runs before any
// authentication, so a denied caller learns nothing about keys or deployments.
func (p *pipeline) network(r *http.Request, listener string) (netip.Addr, error) {
	client := p.policy.ClientAddr(peerAddr(r), r.Header)
	l := p.listeners[listener]
	d := p.policy.Decide(l, client)
	p.metrics.network.WithLabelValues(listener, string(d.Reason)).Inc()
	if d.Allowed {
		return client, nil
	}
	he := d.HTTPError()
	he.Err = fmt.Errorf("network denied: %s", describeDecision(d))
	p.log.Info("network access denied", "decision", d)
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

// guardManagement applies the same network rules to a management listener,
// so the admin API and metrics are never more reachable than the data plane.
func (s *Server) guardManagement(listener string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.pipe.Load().network(r, listener); err != nil {
			httpx.Write(w, httpx.As(err, nil))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func newNetworkMetric(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "moat_network_decisions_total",
		Help: "Network access decisions, by listener and the reason that decided (allowed or denied).",
	}, []string{"listener", "reason"})
	reg.MustRegister(c)
	return c
}
