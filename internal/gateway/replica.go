package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/fleet"
)

// heartbeatTimeout bounds one heartbeat write, so a hung store costs the
// heartbeat loop a beat, never more.
const heartbeatTimeout = 5 * time.Second

// staleBeats is how many heartbeats a replica may miss before it is stale.
const staleBeats = 3

// Fingerprint identifies the effective config of a replica, so replicas
// that should behave alike can be checked to run the same config. It hashes
// the printed config (moat config print), in which secrets are redacted or
// named by their ${ENV} or file: reference, never their value: a rotated
// secret does not change it, and it leaks nothing. What legitimately
// differs between replicas of one fleet does not count: replica, data_dir,
// the SQLite path, the request log's spool directory and listener addresses
// (replicas on one host need their own ports and directories).
func Fingerprint(cfg *config.Config) (string, error) {
	c := *cfg
	c.Replica = config.Replica{}
	c.DataDir = ""
	c.Log.SQLitePath = ""
	c.Log.SpoolDir = ""
	c.Listeners = withoutAddresses(c.Listeners)
	c.Management.Listeners = withoutAddresses(c.Management.Listeners)
	b, err := c.Dump()
	if err != nil {
		return "", fmt.Errorf("config fingerprint: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

func withoutAddresses(ls []config.Listener) []config.Listener {
	out := slices.Clone(ls)
	for i := range out {
		out[i].Address = ""
	}
	return out
}

// LimitsSummary writes the rate-limit rules in a short canonical form,
// sorted ("team[key] tpm=20000 rpm=60; daily[principal] quota=1000000/day"),
// so that moat status can say which replicas enforce different limits: the
// drift that over-admits.
func LimitsSummary(cfg *config.Config) string {
	var parts []string
	for _, r := range cfg.RateLimits.Rules {
		p := r.Name + "[" + string(r.Scope) + "]"
		if len(r.Deployments) > 0 {
			p += " deployments=" + strings.Join(r.Deployments, ",")
		}
		if r.TPM > 0 {
			p += fmt.Sprintf(" tpm=%d", r.TPM)
		}
		if r.RPM > 0 {
			p += fmt.Sprintf(" rpm=%d", r.RPM)
		}
		if r.Quota > 0 {
			p += fmt.Sprintf(" quota=%d/%s", r.Quota, r.QuotaPeriod)
		}
		parts = append(parts, p)
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// replicaInfo is what this replica says about itself.
type replicaInfo struct {
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	Limits      string `json:"limits"`
}

// describeReplica computes what the replica says about itself for a config
// being installed, once: /metrics, /status and the heartbeat read it often.
func (s *Server) describeReplica(cfg *config.Config) *replicaInfo {
	fp, err := Fingerprint(cfg)
	if err != nil {
		s.log.Warn("config fingerprint", "err", err)
	}
	return &replicaInfo{Name: cfg.Replica.Name, Fingerprint: fp, Limits: LimitsSummary(cfg)}
}

// replicaInfo describes the running config.
func (s *Server) replicaInfo() replicaInfo { return *s.info.Load() }

// heartbeat records this replica in the store's replicas table.
func (s *Server) heartbeat(ctx context.Context, state string) {
	info := s.replicaInfo()
	ctx, cancel := context.WithTimeout(ctx, heartbeatTimeout)
	defer cancel()
	err := s.store.Heartbeat(ctx, fleet.Replica{Name: info.Name, Version: s.version, Fingerprint: info.Fingerprint,
		Limits: info.Limits, State: state, Started: s.started, LastSeen: s.now().UTC()})
	if err != nil {
		s.log.Warn("replica heartbeat failed", "err", err)
	}
}

// runHeartbeat writes a heartbeat every replica.heartbeat until ctx ends.
// A reload that changes the config shows in the next beat.
func (s *Server) runHeartbeat(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.heartbeatEvery()):
		}
		state := fleet.StateServing
		if s.draining.Load() {
			state = fleet.StateDraining
		}
		s.heartbeat(ctx, state)
	}
}

// fleetStatus reads every replica's last heartbeat and checks them against
// each other.
func (s *Server) fleetStatus(ctx context.Context) ([]fleet.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, heartbeatTimeout)
	defer cancel()
	rs, err := s.store.Replicas(ctx)
	if err != nil {
		return nil, err
	}
	return fleet.Check(rs, s.now(), staleBeats*s.heartbeatEvery()), nil
}

// heartbeatEvery is replica.heartbeat, or its default for a config built
// without Parse's defaults.
func (s *Server) heartbeatEvery() time.Duration {
	if d := s.cfg.Load().Replica.Heartbeat.D(); d > 0 {
		return d
	}
	return 15 * time.Second
}

// configInfoCollector exports moat_config_info, 1 with the replica's name,
// version and config fingerprint as labels, so dashboards can count the
// fingerprints in a fleet: more than one is drift.
type configInfoCollector struct {
	s    *Server
	desc *prometheus.Desc
}

func newConfigInfoCollector(s *Server) *configInfoCollector {
	return &configInfoCollector{s: s, desc: prometheus.NewDesc("moat_config_info",
		"Always 1; labels name the replica, its version and the fingerprint of its effective config (secrets excluded).",
		[]string{"replica", "version", "fingerprint"}, nil)}
}

func (c *configInfoCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *configInfoCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.info.Load() == nil {
		return
	}
	info := c.s.replicaInfo()
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1, info.Name, c.s.version, info.Fingerprint)
}
