package dataplane

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/route"
)

// This file is what the process (package gateway) may ask of a running
// pipeline: the management plane authenticates through it, the admin API
// shares its key hasher and cache, /status reads its pools.

// Now is the pipeline's clock.
func (p *Pipeline) Now() time.Time { return p.now() }

// Hasher is the key hasher (auth.pepper) the pipeline verifies keys with.
func (p *Pipeline) Hasher() auth.Hasher { return p.id.hasher }

// InvalidateKey drops a stored key from the key cache, so a revoked or
// changed key stops working at once on this replica.
func (p *Pipeline) InvalidateKey(id string) {
	if k := p.id.keys; k != nil {
		k.Invalidate(id)
	}
}

// RefreshAssignments re-reads the stored role assignments (see
// identity.refreshAssignments for what happens when the store fails).
func (p *Pipeline) RefreshAssignments(ctx context.Context) error {
	return p.id.refreshAssignments(ctx)
}

// ClientAddr is r's client address as the network stage sees it.
func (p *Pipeline) ClientAddr(r *http.Request) netip.Addr {
	return p.policy.ClientAddr(peerAddr(r), r.Header)
}

// DeploymentNames lists the configured deployments, sorted.
func (p *Pipeline) DeploymentNames() []string { return p.depNames }

// Pool is the named deployment's pool of upstreams, or nil.
func (p *Pipeline) Pool(deployment string) *route.Pool {
	if d := p.deployments[deployment]; d != nil {
		return d.pool
	}
	return nil
}
