package dataplane

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/moat-gw/moat/internal/affinity"
	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/netpolicy"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/ratelimit"
	"github.com/moat-gw/moat/internal/rbac"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/route"
	"github.com/moat-gw/moat/internal/team"
	"github.com/moat-gw/moat/internal/telemetry"
	"github.com/moat-gw/moat/internal/upstream"
)

// Deps are the long-lived parts a pipeline build borrows from the process
// (gateway.Server): they outlive any one config.
type Deps struct {
	Log       *slog.Logger
	Now       func() time.Time
	Tokens    TokenCounter
	Metrics   *Metrics
	Sink      func(reqlog.Record)
	Simulator string // base URL of the in-process simulator, if running
	NewID     func() string
	KeyStore  auth.KeyStore   // keys created with `moat keys create`, if the store keeps them
	Assigned  AssignmentStore // role assignments made with `moat roles` or the admin API
	// RoleAssignments turns stored role assignments into RBAC ones
	// (admin.RBACAssignments, which the data plane does not import).
	RoleAssignments func([]audit.RoleAssignment) ([]rbac.Assignment, error)
	Stored          *StoredIdentity // key cache and last known good assignments, shared across pipelines
	Limiter         ratelimit.Limiter
	Tel             *telemetry.Telemetry
	TargetKey       []byte          // keys memberTarget's fingerprints
	Pins            *affinity.Table // where stored responses live, shared across pipelines
	// Teams resolves token principals' teams (package team); shared
	// across pipelines, refreshed by the process.
	Teams *team.Directory
}

// Build turns a validated config into an immutable pipeline.
func Build(ctx context.Context, cfg *config.Config, d Deps) (*Pipeline, error) {
	p := &Pipeline{
		log: d.Log, now: d.Now, region: cfg.Region, regionValue: []string{cfg.Region}[:1:1], replica: cfg.Replica.Name,
		maxBody: int64(cfg.Limits.MaxBodyBytes), maxRetry: int64(cfg.Limits.MaxRetryBodyBytes),
		bodyTimeout: cfg.Limits.BodyReadTimeout.D(),
		maxBodyLog:  int(cfg.Log.MaxBodyLogBytes),
		deployments: map[string]*deployment{}, targets: map[string]*upstream.Target{},
		tokens: d.Tokens, metrics: d.Metrics, sink: d.Sink, newID: d.NewID, tel: d.Tel, pins: d.Pins, teams: d.Teams,
		versions: map[string]bool{}, denials: &logSampler{}, anonRows: &rowSampler{perSecond: AnonymousLogPerSecond},
	}
	pr, err := newProtection(cfg)
	if err != nil {
		return nil, err
	}
	p.protect = pr
	versions := cfg.APIVersions
	if len(versions) == 0 {
		versions = openai.DefaultAPIVersions()
	}
	for _, v := range versions {
		p.versions[v] = true
	}
	for _, u := range cfg.Upstreams {
		t, err := newTarget(u, d.Simulator)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.targets[u.Name] = t
	}
	idle := map[string]time.Duration{}
	ups := map[string]config.Upstream{}
	for _, u := range cfg.Upstreams {
		idle[u.Name] = u.IdleTimeout.D()
		ups[u.Name] = u
	}
	for _, dc := range cfg.Deployments {
		dep := &deployment{name: dc.Name, model: dc.Model, members: map[string]poolMember{}}
		if len(dc.Upstreams) > 0 {
			dep.provider = p.targets[dc.Upstreams[0].Upstream].Provider()
		}
		var members []route.Member
		for _, du := range dc.Upstreams {
			members = append(members, route.Member{Name: du.Upstream, Priority: du.Priority, Weight: du.Weight,
				Target: memberTarget(d.TargetKey, ups[du.Upstream], du.Deployment)})
			dep.members[du.Upstream] = poolMember{target: p.targets[du.Upstream], upstream: du.Deployment, idle: idle[du.Upstream]}
		}
		pool, err := route.NewPool(members, cfg.Routing.PoolOptions())
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("deployment %s: %w", dc.Name, err)
		}
		dep.pool = pool
		p.deployments[dc.Name] = dep
		p.depNames = append(p.depNames, dc.Name)
	}
	p.maxAttempts = cfg.Routing.MaxAttempts
	p.limiter = d.Limiter
	p.rateRules = cfg.RateLimits.Rules
	p.templates = newOpTemplates()
	p.defaultMaxTokens = cfg.RateLimits.DefaultMaxTokens
	p.maxExactCount = int(cfg.RateLimits.MaxExactCountBytes)
	if p.maxExactCount <= 0 {
		p.maxExactCount = config.DefaultMaxExactCountBytes
	}
	sort.Strings(p.depNames)
	rules, err := cfg.NetworkRules()
	if err == nil {
		p.policy, err = netpolicy.New(rules)
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("network rules: %w", err)
	}
	p.listeners = map[string]*netpolicy.Listener{}
	for _, lc := range cfg.AllListeners() {
		l, err := lc.Policy()
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("listener %s: %w", lc.Name, err)
		}
		p.listeners[lc.Name] = &l
	}
	if p.id, err = buildIdentity(ctx, cfg, d.KeyStore, d.Assigned, d.RoleAssignments, d.Stored, d.Log, d.Now); err != nil {
		p.Close()
		return nil, fmt.Errorf("auth: %w", err)
	}
	if err := p.buildSpend(cfg); err != nil {
		p.Close()
		return nil, err
	}
	p.proxy = p.newProxy()
	return p, nil
}

// newTarget builds an upstream Target from config. The type's protocol
// says where the service is (endpoint, base_url, or the in-process
// simulator) and how its key is presented.
func newTarget(u config.Upstream, simulatorURL string) (*upstream.Target, error) {
	auth, err := u.Authenticator()
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", u.Name, err)
	}
	o := u.TargetOptions(auth)
	if p, ok := upstream.Lookup(u.Type); ok && p.Spec().URL == upstream.URLNone {
		if simulatorURL == "" {
			return nil, fmt.Errorf("upstream %s: simulator is not running", u.Name)
		}
		o.BaseURL = simulatorURL
	}
	return upstream.New(o)
}

// Close releases the pipeline's upstream connection pools.
func (p *Pipeline) Close() {
	for _, t := range p.targets {
		t.Close()
	}
}
