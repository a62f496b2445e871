package netpolicy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Mode is the account's publicNetworkAccess, widened to the three choices of
// the portal's Networking tab, because "Enabled" alone does not say whether
// networkAcls apply (wire reference §3.1).
type Mode string

// The public network access modes.
const (
	// ModeEnabled allows all networks (publicNetworkAccess Enabled, defaultAction Allow).
	ModeEnabled Mode = "enabled"
	// ModeSelected allows only ip and virtual network rules, plus private
	// endpoints (publicNetworkAccess Enabled, defaultAction Deny).
	ModeSelected Mode = "selected"
	// ModeDisabled allows private endpoints only (publicNetworkAccess Disabled).
	ModeDisabled Mode = "disabled"
)

// ParseMode reads a mode case-insensitively, so that ARM's "Enabled" and
// "Disabled" can be pasted as they are.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(s)); m {
	case ModeEnabled, ModeSelected, ModeDisabled:
		return m, nil
	case "":
		return "", errors.New("public network access mode is required (enabled, selected or disabled)")
	}
	return "", fmt.Errorf("unknown public network access mode %q (want enabled, selected or disabled)", s)
}

// ListenerKind says how traffic reached a listener: over the "public"
// network, or through a "private_endpoint", whose traffic Azure always allows.
type ListenerKind string

// The listener kinds.
const (
	KindPublic          ListenerKind = "public"
	KindPrivateEndpoint ListenerKind = "private_endpoint"
)

// ParseListenerKind reads a listener kind; empty means public, the kind that
// the account's rules restrict, so forgetting it never opens anything.
func ParseListenerKind(s string) (ListenerKind, error) {
	switch k := ListenerKind(strings.ToLower(s)); k {
	case "", KindPublic:
		return KindPublic, nil
	case KindPrivateEndpoint:
		return k, nil
	}
	return "", fmt.Errorf("unknown listener kind %q (want public or private_endpoint)", s)
}

// Subnet is a virtual network rule. Without Azure's fabric a subnet is a
// named CIDR; the name appears in decisions, logs and metrics.
type Subnet struct {
	Name   string
	Prefix netip.Prefix
}

// Rules is the account's network configuration, already parsed. Build it
// with [ParseRules] from text, or fill it by hand and let [New] validate it.
type Rules struct {
	// PublicNetworkAccess selects the mode; it has no default, so that a
	// forgotten setting fails at load instead of opening the gateway.
	PublicNetworkAccess Mode
	// IPRules are allowed client prefixes in ModeSelected (ARM ipRules).
	IPRules []netip.Prefix
	// VirtualNetworkRules are allowed named subnets in ModeSelected, checked
	// after IPRules (ARM virtualNetworkRules).
	VirtualNetworkRules []Subnet
	// TrustedProxies are the peers whose X-Forwarded-For and Forwarded
	// headers are believed by [ClientAddr].
	TrustedProxies []netip.Prefix
}

// Listener describes one listening socket as far as network policy cares.
// The gateway builds one per listener at load and passes it to every Decide.
type Listener struct {
	// Name identifies the listener in decisions and logs.
	Name string
	// Kind says whether traffic arrives over the public network or a private endpoint.
	Kind ListenerKind
	// AllowedSources is an NSG-like allow list checked before anything else;
	// empty allows any source.
	AllowedSources []netip.Prefix
	// ProxyProtocol says the listener expects a PROXY protocol header; it is
	// informational here (package proxyproto does the work).
	ProxyProtocol bool
}

// RulesSpec is the textual form of [Rules], as written in the YAML config.
type RulesSpec struct {
	PublicNetworkAccess string       `yaml:"public_network_access"`
	IPRules             []string     `yaml:"ip_rules"`
	VirtualNetworkRules []SubnetSpec `yaml:"virtual_network_rules"`
	TrustedProxies      []string     `yaml:"trusted_proxies"`
}

// SubnetSpec is the textual form of [Subnet].
type SubnetSpec struct {
	Name   string `yaml:"name"`
	Prefix string `yaml:"prefix"`
}

// ListenerSpec is the textual form of [Listener].
type ListenerSpec struct {
	Name           string   `yaml:"name"`
	Kind           string   `yaml:"kind"`
	AllowedSources []string `yaml:"allowed_sources"`
	ProxyProtocol  bool     `yaml:"proxy_protocol"`
}

// ParseRules parses and validates a RulesSpec once, at config load, and
// reports every problem at once, each naming its field and index.
func ParseRules(s RulesSpec) (Rules, error) {
	var errs []error
	mode, err := ParseMode(s.PublicNetworkAccess)
	if err != nil {
		errs = append(errs, fmt.Errorf("public_network_access: %w", err))
	}
	r := Rules{PublicNetworkAccess: mode}
	r.IPRules, err = parsePrefixList("ip_rules", s.IPRules)
	errs = append(errs, err)
	r.TrustedProxies, err = parsePrefixList("trusted_proxies", s.TrustedProxies)
	errs = append(errs, err)
	for i, v := range s.VirtualNetworkRules {
		p, err := ParsePrefix(v.Prefix)
		if err != nil {
			errs = append(errs, fmt.Errorf("virtual_network_rules[%d] (%s): %w", i, v.Name, err))
			continue
		}
		r.VirtualNetworkRules = append(r.VirtualNetworkRules, Subnet{Name: v.Name, Prefix: p})
	}
	if err := errors.Join(errs...); err != nil {
		return Rules{}, err
	}
	if err := r.Validate(); err != nil {
		return Rules{}, err
	}
	return r, nil
}

// ParseListener parses and validates a ListenerSpec at config load.
func ParseListener(s ListenerSpec) (Listener, error) {
	var errs []error
	kind, err := ParseListenerKind(s.Kind)
	if err != nil {
		errs = append(errs, fmt.Errorf("listener %q: kind: %w", s.Name, err))
	}
	src, err := parsePrefixList(fmt.Sprintf("listener %q: allowed_sources", s.Name), s.AllowedSources)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return Listener{}, err
	}
	l := Listener{Name: s.Name, Kind: kind, AllowedSources: src, ProxyProtocol: s.ProxyProtocol}
	if err := l.Validate(); err != nil {
		return Listener{}, err
	}
	return l, nil
}

func parsePrefixList(field string, in []string) ([]netip.Prefix, error) {
	var (
		out  []netip.Prefix
		errs []error
	)
	for i, s := range in {
		p, err := ParsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", field, i, err))
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// ParsePrefix reads an IPv4 or IPv6 address or CIDR prefix. A bare address
// becomes a /32 or /128. It refuses zones (they name an interface, not a
// network), IPv4-mapped IPv6 forms (client addresses are unmapped, so such a
// rule would never match) and prefixes with host bits set (10.1.2.3/8 is
// almost always a typo for a single host).
func ParsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, errors.New("empty address or prefix")
	}
	if strings.Contains(s, "%") {
		return netip.Prefix{}, fmt.Errorf("%q: zone identifiers are not allowed in rules", s)
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid prefix: %w", err)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid address: %w", err)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if err := checkPrefix(p); err != nil {
		return netip.Prefix{}, fmt.Errorf("%q: %w", s, err)
	}
	return p, nil
}

// checkPrefix enforces ParsePrefix's rules on prefixes built in code.
func checkPrefix(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return errors.New("invalid prefix")
	case p.Addr().Is4In6():
		return fmt.Errorf("IPv4-mapped IPv6 prefix; write the IPv4 form (%s)",
			netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0)).Masked())
	case p != p.Masked():
		return fmt.Errorf("host bits set; did you mean %s or %s?",
			p.Masked(), netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
	}
	return nil
}

// Validate reports every problem in r at once. [New] calls it, so hand-built
// Rules get the same checks as parsed ones.
func (r Rules) Validate() error {
	var errs []error
	if _, err := ParseMode(string(r.PublicNetworkAccess)); err != nil {
		errs = append(errs, fmt.Errorf("public_network_access: %w", err))
	} else if Mode(strings.ToLower(string(r.PublicNetworkAccess))) != r.PublicNetworkAccess {
		errs = append(errs, fmt.Errorf("public_network_access: %q must be lower case", r.PublicNetworkAccess))
	}
	errs = append(errs, checkPrefixes("ip_rules", r.IPRules), checkPrefixes("trusted_proxies", r.TrustedProxies))
	seen := make(map[string]int, len(r.VirtualNetworkRules))
	for i, s := range r.VirtualNetworkRules {
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("virtual_network_rules[%d]: name is required", i))
		} else if j, dup := seen[s.Name]; dup {
			errs = append(errs, fmt.Errorf("virtual_network_rules[%d]: name %q already used by virtual_network_rules[%d]", i, s.Name, j))
		} else {
			seen[s.Name] = i
		}
		if err := checkPrefix(s.Prefix); err != nil {
			errs = append(errs, fmt.Errorf("virtual_network_rules[%d] (%s): %w", i, s.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Validate reports every problem in l at once.
func (l *Listener) Validate() error {
	var errs []error
	if l.Name == "" {
		errs = append(errs, errors.New("listener: name is required"))
	}
	if l.Kind != KindPublic && l.Kind != KindPrivateEndpoint {
		errs = append(errs, fmt.Errorf("listener %q: unknown kind %q", l.Name, l.Kind))
	}
	errs = append(errs, checkPrefixes(fmt.Sprintf("listener %q: allowed_sources", l.Name), l.AllowedSources))
	return errors.Join(errs...)
}

func checkPrefixes(field string, ps []netip.Prefix) error {
	var errs []error
	for i, p := range ps {
		if err := checkPrefix(p); err != nil {
			errs = append(errs, fmt.Errorf("%s[%d] (%s): %w", field, i, p, err))
		}
	}
	return errors.Join(errs...)
}
