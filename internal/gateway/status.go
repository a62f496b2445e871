package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-gw/moat/internal/route"
)

// UpstreamStatus is one pool member's routing state, for /status, metrics
// and the dashboard.
type UpstreamStatus struct {
	Deployment          string    `json:"deployment"`
	Upstream            string    `json:"upstream"`
	State               string    `json:"state"`
	Available           bool      `json:"available"`
	Priority            int       `json:"priority"`
	Weight              int       `json:"weight"`
	BenchedUntil        time.Time `json:"benched_until,omitzero"`
	OpenUntil           time.Time `json:"open_until,omitzero"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	RemainingTokens     int       `json:"remaining_tokens"`
}

// Status reports every deployment's pool members.
func (s *Server) Status() []UpstreamStatus {
	p := s.pipe.Load()
	now := p.Now()
	var out []UpstreamStatus
	for _, name := range p.DeploymentNames() {
		for _, m := range p.Pool(name).Snapshot(now) {
			out = append(out, UpstreamStatus{Deployment: name, Upstream: m.Name, State: string(m.State),
				Available: m.Available, Priority: m.Priority, Weight: m.Weight, BenchedUntil: m.BenchedUntil,
				OpenUntil: m.OpenUntil, ConsecutiveFailures: m.ConsecutiveFailures, RemainingTokens: m.RemainingTokens})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Deployment < out[j].Deployment })
	return out
}

// serveStatus answers this replica's routing state, its identity and
// config fingerprint, and every replica's last heartbeat from the shared
// store with what differs (moat status prints it).
func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.statusDoc(r.Context()))
}

// statusDoc is the /status document; the studio shows it too.
func (s *Server) statusDoc(ctx context.Context) any {
	out := map[string]any{"version": s.version, "ready": !s.draining.Load(), "upstreams": s.Status(),
		"replica": s.replicaInfo(), "build": s.buildInfo(), "reloads": s.ReloadStatus()}
	if fl, err := s.fleetStatus(ctx); err != nil {
		s.log.Warn("status: read replicas", "err", err)
		out["replicas_error"] = "the replicas table could not be read; see the log"
	} else if fl != nil {
		out["replicas"] = fl
	}
	return out
}

// breakerCollector exports each member's breaker state at scrape time:
// 0 closed, 1 half-open, 2 open.
type breakerCollector struct {
	s    *Server
	desc *prometheus.Desc
}

func newBreakerCollector(s *Server) *breakerCollector {
	return &breakerCollector{s: s, desc: prometheus.NewDesc("moat_upstream_breaker_state",
		"Circuit breaker state per deployment pool member: 0 closed, 1 half-open, 2 open.", []string{"deployment", "upstream"}, nil)}
}

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.pipe.Load() == nil {
		return
	}
	for _, u := range c.s.Status() {
		v := 0.0
		switch route.BreakerState(u.State) {
		case route.HalfOpen:
			v = 1
		case route.Open:
			v = 2
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, u.Deployment, u.Upstream)
	}
}
