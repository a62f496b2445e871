package netpolicy

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// Reason is the closed set of answers a decision can give. It is a log
// column and a metric label, so its values never carry data.
type Reason string

// The reasons, allowed first.
const (
	ReasonPrivateEndpoint       Reason = "private_endpoint"
	ReasonPublicEnabled         Reason = "public_enabled"
	ReasonIPRule                Reason = "ip_rule"
	ReasonVNetRule              Reason = "vnet_rule"
	ReasonDeniedPublicDisabled  Reason = "denied_public_disabled"
	ReasonDeniedFirewall        Reason = "denied_firewall"
	ReasonDeniedListenerSources Reason = "denied_listener_sources"
)

// Reasons lists every reason, for metric pre-registration and tests.
func Reasons() []Reason {
	return []Reason{ReasonPrivateEndpoint, ReasonPublicEnabled, ReasonIPRule, ReasonVNetRule,
		ReasonDeniedPublicDisabled, ReasonDeniedFirewall, ReasonDeniedListenerSources}
}

// Decision is the outcome of [Policy.Decide]: a small value, so deciding
// allocates nothing, that says what decided and why, for logs and metrics.
type Decision struct {
	// Allowed says whether the request may go on to authentication.
	Allowed bool
	// Reason says which layer decided.
	Reason Reason
	// Listener is the name of the listener the request arrived on.
	Listener string
	// Client is the address that was matched: unmapped, without zone.
	Client netip.Addr
	// Rule is the index of the deciding rule in Rules.IPRules (ip_rule) or
	// Rules.VirtualNetworkRules (vnet_rule), and -1 for every other reason.
	Rule int
	// Prefix is the deciding rule's prefix, if Rule is not -1.
	Prefix netip.Prefix
	// Subnet is the deciding virtual network rule's name (vnet_rule only).
	Subnet string
}

// Policy is a validated, immutable set of [Rules]. It never changes after
// [New], so a reload builds a new one and swaps it with atomic.Pointer while
// in-flight requests keep deciding against the old one.
type Policy struct {
	mode    Mode
	ipRules []netip.Prefix
	vnets   []Subnet
	trusted []netip.Prefix
}

// New validates rules and builds a Policy. It copies every slice, so the
// caller may reuse rules afterwards.
func New(rules Rules) (*Policy, error) {
	if err := rules.Validate(); err != nil {
		return nil, fmt.Errorf("network rules: %w", err)
	}
	return &Policy{
		mode:    rules.PublicNetworkAccess,
		ipRules: slices.Clone(rules.IPRules),
		vnets:   slices.Clone(rules.VirtualNetworkRules),
		trusted: slices.Clone(rules.TrustedProxies),
	}, nil
}

// Rules returns a copy of the rules p was built from, for config dumps.
func (p *Policy) Rules() Rules {
	return Rules{
		PublicNetworkAccess: p.mode,
		IPRules:             slices.Clone(p.ipRules),
		VirtualNetworkRules: slices.Clone(p.vnets),
		TrustedProxies:      slices.Clone(p.trusted),
	}
}

// Decide says whether client may reach the gateway through listener l. It
// allocates nothing, because it runs before authentication on every request,
// including those of scanners. The order follows Azure (wire reference §3.1),
// with the listener's NSG-like allow list in front:
//
//  1. l.AllowedSources, if not empty, must contain the client;
//  2. a private endpoint listener is always allowed;
//  3. ModeDisabled denies; ModeEnabled allows;
//  4. ModeSelected allows an ip rule, then a virtual network rule, else denies.
//
// A nil l is a public listener without an allow list. An invalid client (an
// address that could not be determined) matches no rule, so it is denied
// everywhere an address matters.
func (p *Policy) Decide(l *Listener, client netip.Addr) Decision {
	client = client.Unmap().WithZone("")
	d := Decision{Client: client, Rule: -1}
	kind := KindPublic
	if l != nil {
		d.Listener = l.Name
		kind = l.Kind
		if !l.AllowsSource(client) {
			d.Reason = ReasonDeniedListenerSources
			return d
		}
	}
	if kind == KindPrivateEndpoint {
		d.Allowed, d.Reason = true, ReasonPrivateEndpoint
		return d
	}
	switch p.mode {
	case ModeEnabled:
		d.Allowed, d.Reason = true, ReasonPublicEnabled
		return d
	case ModeSelected:
		for i, r := range p.ipRules {
			if r.Contains(client) {
				d.Allowed, d.Reason, d.Rule, d.Prefix = true, ReasonIPRule, i, r
				return d
			}
		}
		for i, s := range p.vnets {
			if s.Prefix.Contains(client) {
				d.Allowed, d.Reason, d.Rule, d.Prefix, d.Subnet = true, ReasonVNetRule, i, s.Prefix, s.Name
				return d
			}
		}
		d.Reason = ReasonDeniedFirewall
		return d
	default: // ModeDisabled; New admits nothing else.
		d.Reason = ReasonDeniedPublicDisabled
		return d
	}
}

// AllowsSource reports whether a is in l's allow list (an empty list allows
// everything). Decide calls it; a listener may also call it at accept time to
// drop connections as an NSG would. a should be unmapped.
func (l *Listener) AllowsSource(a netip.Addr) bool {
	if len(l.AllowedSources) == 0 {
		return true
	}
	for _, p := range l.AllowedSources {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr resolves the client address of a request with p's trusted
// proxies; see the package function [ClientAddr].
func (p *Policy) ClientAddr(peer netip.Addr, h http.Header) netip.Addr {
	return ClientAddr(peer, h, p.trusted)
}

// HTTPError returns Azure's 403 for a denial (wire reference §2.6), or nil
// when d allows, with the policy-id header Azure sends; the edge renders its
// body (openai.Errors). The client address goes to the log only.
func (d Decision) HTTPError() *httpx.Error {
	if d.Allowed {
		return nil
	}
	msg := openai.MsgFirewallDenied
	if d.Reason == ReasonDeniedPublicDisabled {
		msg = openai.MsgPublicDisabled
	}
	cause := fmt.Errorf("network policy: %s: client %s on listener %q", d.Reason, d.Client, d.Listener)
	return httpx.FrontDoor(http.StatusForbidden, httpx.KindPolicyNetwork, "403", msg, cause).
		WithHeader("policy-id", openai.PolicyIDTrafficDenied)
}

// LogValue groups the decision's fields for one log line.
func (d Decision) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs, slog.Bool("allowed", d.Allowed), slog.String("reason", string(d.Reason)),
		slog.String("listener", d.Listener), slog.String("client", d.Client.String()))
	if d.Rule >= 0 {
		attrs = append(attrs, slog.Int("rule", d.Rule), slog.String("prefix", d.Prefix.String()))
	}
	if d.Subnet != "" {
		attrs = append(attrs, slog.String("subnet", d.Subnet))
	}
	return slog.GroupValue(attrs...)
}
