package netns_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/netpolicy"
)

// TestMatrixAgreesWithNetpolicy needs no root: it loads the configs the
// namespace test runs with (so they stay valid) and checks that every
// expectation of the matrix is what package netpolicy decides for the
// addresses and headers moat will see. The namespace test then shows that
// moat, its listeners and its proxies really see those.
func TestMatrixAgreesWithNetpolicy(t *testing.T) {
	for i, mode := range modes() {
		cfg, err := config.Parse([]byte(renderConfig(t.TempDir(), rules{mode: mode})))
		if err != nil {
			t.Fatalf("%s config: %v", mode, err)
		}
		r, err := cfg.NetworkRules()
		if err != nil {
			t.Fatal(err)
		}
		policy, err := netpolicy.New(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range matrix() {
			if c.want[i] == skip {
				continue
			}
			for _, f := range families() {
				t.Run(mode+"/"+c.name+"/"+f.name, func(t *testing.T) {
					got := modelOutcome(t, cfg, policy, r.TrustedProxies, c, f)
					want := c.want[i]
					if want == completion || want == metrics {
						want = passes // the model stops at the network stage
					}
					if got != want {
						t.Errorf("netpolicy says %v, the matrix wants %v", got, c.want[i])
					}
				})
			}
		}
	}
	if _, err := config.Parse([]byte(renderConfig(t.TempDir(), rules{mode: "disabled", broken: true}))); err == nil {
		t.Error("the broken config used for a refused reload parses")
	}
}

// modelOutcome replays what the topology does to a call (the reverse proxy
// appends the client to X-Forwarded-For, the balancer names it in a PROXY
// header, nothing listens on the public address's management port) and
// asks netpolicy.
func modelOutcome(t *testing.T, cfg *config.Config, p *netpolicy.Policy, trusted []netip.Prefix, c matrixCase, f family) outcome {
	t.Helper()
	if c.route == toManagementOnPublicAddress {
		return refused
	}
	var lc *config.Listener
	for _, l := range append(append([]config.Listener(nil), cfg.Listeners...), cfg.Management.Listeners...) {
		if l.Name == c.listener(f) {
			lc = &l
		}
	}
	if lc == nil {
		t.Fatalf("no listener %s", c.listener(f))
	}
	l, err := lc.Policy()
	if err != nil {
		t.Fatal(err)
	}
	client := netip.MustParseAddr(c.clientIP(f))
	proxy := netip.MustParseAddr(f.ip(subnetBack, hostProxy))
	h := http.Header{}
	if c.header != nil {
		h = c.header(f)
	}
	peer := client
	switch c.route {
	case viaReverseProxy:
		peer = proxy
		h.Set("X-Forwarded-For", strings.Join(append(h.Values("X-Forwarded-For"), client.String()), ", "))
	case viaBalancer:
		// The balancer is trusted: its PROXY header's source is the peer.
	case toBalancerPort:
		// moat requires a PROXY header from a trusted peer on these
		// listeners; anyone else is cut off before HTTP, header or not.
		if !lc.ProxyProtocol || contains(trusted, peer) {
			t.Fatalf("%s: direct calls to the balancer listener come from untrusted hosts", c.name)
		}
		return dropped
	}
	d := p.Decide(&l, p.ClientAddr(peer, h))
	switch d.Reason {
	case netpolicy.ReasonDeniedPublicDisabled:
		return deniedDisabled
	case netpolicy.ReasonDeniedFirewall:
		return deniedFirewall
	case netpolicy.ReasonDeniedListenerSources:
		return deniedNSG
	}
	if !d.Allowed {
		t.Fatalf("unexpected decision %+v", d)
	}
	return passes
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
