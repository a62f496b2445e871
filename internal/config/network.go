package config

import (
	"github.com/moat-gw/moat/internal/netpolicy"
)

// NetworkRules converts the network section into netpolicy's typed rules.
// netpolicy is the one parser of addresses and CIDRs, so config and the
// request path can never disagree on what a rule means.
func (c *Config) NetworkRules() (netpolicy.Rules, error) {
	spec := netpolicy.RulesSpec{
		PublicNetworkAccess: c.Network.PublicNetworkAccess,
		IPRules:             c.Network.IPRules,
		TrustedProxies:      c.Network.TrustedProxies,
	}
	for _, s := range c.Network.VirtualNetworkRules {
		spec.VirtualNetworkRules = append(spec.VirtualNetworkRules, netpolicy.SubnetSpec{Name: s.Name, Prefix: s.Prefix})
	}
	return netpolicy.ParseRules(spec)
}

// Policy converts a listener into netpolicy's listener descriptor.
func (l Listener) Policy() (netpolicy.Listener, error) {
	return netpolicy.ParseListener(netpolicy.ListenerSpec{Name: l.Name, Kind: l.Kind,
		AllowedSources: l.AllowedSources, ProxyProtocol: l.ProxyProtocol})
}

// AllListeners returns the data-plane listeners followed by the management ones.
func (c *Config) AllListeners() []Listener {
	return append(append([]Listener(nil), c.Listeners...), c.Management.Listeners...)
}
