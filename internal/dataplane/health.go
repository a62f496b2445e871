package dataplane

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/config"
)

// memberTarget fingerprints what a pool member calls, so a reload keeps the
// member's bench and breaker only while it still calls the same thing: the
// upstream's type, endpoint or base URL, CA bundle and credential identity
// (auth mode, tenant, client, scope and the secret), plus the deployment
// name on the upstream (Azure's limits are per deployment). Timeouts, API
// version and stream_usage do not change who answers, so they do not count.
//
// The fingerprint is an HMAC under a key drawn per process: it is only ever
// compared within one process, and even a weak secret cannot be recovered
// from it if it reaches a log or a status page.
func memberTarget(key []byte, u config.Upstream, upstreamDeployment string) string {
	mac := hmac.New(sha256.New, key)
	for _, f := range []string{string(u.Type), strings.TrimRight(u.Endpoint, "/"), strings.TrimRight(u.BaseURL, "/"), u.CAFile,
		u.Auth, u.TenantID, u.ClientID, u.Scope, u.APIKey.Value(), u.ClientSecret.Value(), upstreamDeployment} {
		// Length-prefixed, so no two field lists hash alike.
		mac.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(f))))
		mac.Write([]byte(f))
	}
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// CarryHealth hands the live state of every unchanged pool member from the
// running pipeline to p, which is about to replace it. Pools are per
// deployment, so state carries between pools of the same deployment name;
// a renamed deployment starts fresh. It must run before p serves a call.
func (p *Pipeline) CarryHealth(prev *Pipeline, now time.Time) (carried, fresh int) {
	for _, name := range p.depNames {
		dep := p.deployments[name]
		total := len(dep.members)
		n := 0
		if prev != nil {
			if old, ok := prev.deployments[name]; ok {
				n = dep.pool.Carry(old.pool, now)
			}
		}
		carried += n
		fresh += total - n
	}
	return carried, fresh
}
