package netpolicy

import (
	"fmt"
	"net/http"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

var pfx = netip.MustParsePrefix

// testRules returns rules with IPv4 and IPv6 ip and vnet rules for mode.
func testRules(mode Mode) Rules {
	return Rules{
		PublicNetworkAccess: mode,
		IPRules:             []netip.Prefix{pfx("203.0.113.0/24"), pfx("2001:db8:1::/48"), pfx("10.1.2.3/32")},
		VirtualNetworkRules: []Subnet{{Name: "snet-app", Prefix: pfx("10.20.0.0/16")}, {Name: "snet-v6", Prefix: pfx("fd00:20::/64")}},
	}
}

// addrCase is a client address and the selected-mode rule it should hit.
type addrCase struct {
	name   string
	addr   netip.Addr
	reason Reason // ReasonIPRule, ReasonVNetRule or ReasonDeniedFirewall in selected mode
	rule   int
	subnet string
	// nsg says whether the address is inside nsgListener's AllowedSources.
	nsg bool
}

var addrCases = []addrCase{
	{name: "IPv4 ip rule", addr: netip.MustParseAddr("203.0.113.7"), reason: ReasonIPRule, rule: 0},
	{name: "mapped ip rule", addr: netip.MustParseAddr("::ffff:203.0.113.7"), reason: ReasonIPRule, rule: 0},
	{name: "IPv6 ip rule", addr: netip.MustParseAddr("2001:db8:1::5"), reason: ReasonIPRule, rule: 1},
	{name: "IPv4 single-host rule", addr: netip.MustParseAddr("10.1.2.3"), reason: ReasonIPRule, rule: 2, nsg: true},
	{name: "IPv4 vnet rule", addr: netip.MustParseAddr("10.20.1.1"), reason: ReasonVNetRule, rule: 0, subnet: "snet-app", nsg: true},
	{name: "mapped vnet rule", addr: netip.MustParseAddr("::ffff:10.20.1.1"), reason: ReasonVNetRule, rule: 0, subnet: "snet-app", nsg: true},
	{name: "IPv6 vnet rule", addr: netip.MustParseAddr("fd00:20::1"), reason: ReasonVNetRule, rule: 1, subnet: "snet-v6", nsg: true},
	{name: "zoned IPv6 vnet rule", addr: netip.MustParseAddr("fd00:20::1%eth0"), reason: ReasonVNetRule, rule: 1, subnet: "snet-v6", nsg: true},
	{name: "IPv4 neighbour of single host", addr: netip.MustParseAddr("10.1.2.4"), reason: ReasonDeniedFirewall, rule: -1, nsg: true},
	{name: "IPv4 no rule", addr: netip.MustParseAddr("198.51.100.1"), reason: ReasonDeniedFirewall, rule: -1},
	{name: "mapped no rule", addr: netip.MustParseAddr("::ffff:198.51.100.1"), reason: ReasonDeniedFirewall, rule: -1},
	{name: "IPv6 no rule", addr: netip.MustParseAddr("2001:db8:9::1"), reason: ReasonDeniedFirewall, rule: -1},
	{name: "invalid address", addr: netip.Addr{}, reason: ReasonDeniedFirewall, rule: -1},
}

var listeners = []*Listener{
	nil,
	{Name: "public", Kind: KindPublic},
	{Name: "pe", Kind: KindPrivateEndpoint},
	{Name: "public-nsg", Kind: KindPublic, AllowedSources: []netip.Prefix{pfx("10.0.0.0/8"), pfx("fd00::/8")}},
	{Name: "pe-nsg", Kind: KindPrivateEndpoint, AllowedSources: []netip.Prefix{pfx("10.0.0.0/8"), pfx("fd00::/8")}},
}

// expect spells out Azure's order (wire reference §3.1) for one combination.
func expect(mode Mode, l *Listener, a addrCase) Decision {
	d := Decision{Client: a.addr.Unmap().WithZone(""), Rule: -1}
	if l != nil {
		d.Listener = l.Name
	}
	switch {
	case l != nil && len(l.AllowedSources) > 0 && !a.nsg:
		d.Reason = ReasonDeniedListenerSources
	case l != nil && l.Kind == KindPrivateEndpoint:
		d.Allowed, d.Reason = true, ReasonPrivateEndpoint
	case mode == ModeDisabled:
		d.Reason = ReasonDeniedPublicDisabled
	case mode == ModeEnabled:
		d.Allowed, d.Reason = true, ReasonPublicEnabled
	default:
		d.Reason, d.Rule, d.Subnet = a.reason, a.rule, a.subnet
		d.Allowed = a.reason != ReasonDeniedFirewall
		r := testRules(mode)
		switch a.reason {
		case ReasonIPRule:
			d.Prefix = r.IPRules[a.rule]
		case ReasonVNetRule:
			d.Prefix = r.VirtualNetworkRules[a.rule].Prefix
		}
	}
	return d
}

var cmpAddrs = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

// TestDecideMatrix covers every mode × listener kind (with and without an
// allow list) × address family (IPv4, IPv6, mapped, zoned, invalid).
func TestDecideMatrix(t *testing.T) {
	for _, mode := range []Mode{ModeEnabled, ModeSelected, ModeDisabled} {
		p, err := New(testRules(mode))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range listeners {
			lname := "nil"
			if l != nil {
				lname = l.Name
			}
			for _, a := range addrCases {
				t.Run(fmt.Sprintf("%s/%s/%s", mode, lname, a.name), func(t *testing.T) {
					got := p.Decide(l, a.addr)
					if diff := cmp.Diff(expect(mode, l, a), got, cmpAddrs); diff != "" {
						t.Errorf("Decide mismatch (-want +got):\n%s", diff)
					}
				})
			}
		}
	}
}

// TestDecide pins the interesting cases by hand, independent of expect.
func TestDecide(t *testing.T) {
	sel, _ := New(testRules(ModeSelected))
	dis, _ := New(testRules(ModeDisabled))
	en, _ := New(testRules(ModeEnabled))
	pub, pe, nsg := listeners[1], listeners[2], listeners[4]
	tests := []struct {
		name   string
		p      *Policy
		l      *Listener
		client string
		want   Reason
		rule   int
	}{
		{name: "private endpoint beats disabled", p: dis, l: pe, client: "198.51.100.1", want: ReasonPrivateEndpoint, rule: -1},
		{name: "disabled denies public", p: dis, l: pub, client: "203.0.113.7", want: ReasonDeniedPublicDisabled, rule: -1},
		{name: "enabled allows anyone", p: en, l: pub, client: "198.51.100.1", want: ReasonPublicEnabled, rule: -1},
		{name: "ip rule before vnet rule", p: sel, l: pub, client: "10.1.2.3", want: ReasonIPRule, rule: 2},
		{name: "vnet rule", p: sel, l: pub, client: "10.20.9.9", want: ReasonVNetRule, rule: 0},
		{name: "firewall denies the rest", p: sel, l: pub, client: "192.0.2.1", want: ReasonDeniedFirewall, rule: -1},
		{name: "NSG before private endpoint", p: en, l: nsg, client: "203.0.113.7", want: ReasonDeniedListenerSources, rule: -1},
		{name: "NSG matches mapped client", p: en, l: nsg, client: "::ffff:10.9.9.9", want: ReasonPrivateEndpoint, rule: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.p.Decide(tt.l, netip.MustParseAddr(tt.client))
			if d.Reason != tt.want || d.Rule != tt.rule {
				t.Errorf("Decide(%s) = %s rule %d, want %s rule %d", tt.client, d.Reason, d.Rule, tt.want, tt.rule)
			}
		})
	}
}

func TestDecisionHTTPError(t *testing.T) {
	const (
		firewall = `{"error":{"code":"403","message": "Access denied due to Virtual Network/Firewall rules."}}`
		disabled = `{"error":{"code":"403","message": "Public access is disabled. Please configure private endpoint."}}`
	)
	if len(firewall) != 90 {
		t.Fatalf("firewall body is %d bytes, Azure's is 90 (wire reference §2.0)", len(firewall))
	}
	tests := []struct {
		name     string
		reason   Reason
		wantBody string
	}{
		{name: "public disabled", reason: ReasonDeniedPublicDisabled, wantBody: disabled},
		{name: "firewall", reason: ReasonDeniedFirewall, wantBody: firewall},
		{name: "listener sources", reason: ReasonDeniedListenerSources, wantBody: firewall},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decision{Reason: tt.reason, Listener: "public", Client: netip.MustParseAddr("192.0.2.1"), Rule: -1}
			e := d.HTTPError()
			if e == nil {
				t.Fatal("HTTPError() = nil for a denial")
			}
			got := struct {
				Status int
				Kind   httpx.Kind
				Body   string
				Header http.Header
			}{e.Status, e.Kind, string(httpx.Render(openai.Errors{}, e)), e.Header}
			want := struct {
				Status int
				Kind   httpx.Kind
				Body   string
				Header http.Header
			}{403, httpx.KindPolicyNetwork, tt.wantBody, http.Header{"Policy-Id": {"ThrowExceptionDueToTrafficDenied"}}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("HTTPError mismatch (-want +got):\n%s", diff)
			}
			if e.Err == nil {
				t.Error("HTTPError has no internal cause for the log")
			}
		})
	}
	for _, r := range []Reason{ReasonPrivateEndpoint, ReasonPublicEnabled, ReasonIPRule, ReasonVNetRule} {
		if e := (Decision{Allowed: true, Reason: r}).HTTPError(); e != nil {
			t.Errorf("HTTPError() for allowed %s = %v, want nil", r, e)
		}
	}
}

func TestReasonsClosed(t *testing.T) {
	seen := map[Reason]bool{}
	for _, mode := range []Mode{ModeEnabled, ModeSelected, ModeDisabled} {
		p, _ := New(testRules(mode))
		for _, l := range listeners {
			for _, a := range addrCases {
				seen[p.Decide(l, a.addr).Reason] = true
			}
		}
	}
	var want, got []Reason
	for _, r := range Reasons() {
		want = append(want, r)
		if seen[r] {
			got = append(got, r)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reasons reached by the matrix differ from Reasons() (-want +got):\n%s", diff)
	}
	if len(seen) != len(Reasons()) {
		t.Errorf("Decide returned %d distinct reasons, Reasons() lists %d", len(seen), len(Reasons()))
	}
}

func TestPolicyImmutable(t *testing.T) {
	r := testRules(ModeSelected)
	p, err := New(r)
	if err != nil {
		t.Fatal(err)
	}
	r.IPRules[0] = pfx("0.0.0.0/0")
	if d := p.Decide(nil, netip.MustParseAddr("192.0.2.1")); d.Allowed {
		t.Errorf("changing the caller's Rules after New changed the policy: %+v", d)
	}
	dump := p.Rules()
	dump.IPRules[0] = pfx("0.0.0.0/0")
	if d := p.Decide(nil, netip.MustParseAddr("192.0.2.1")); d.Allowed {
		t.Errorf("changing Rules() output changed the policy: %+v", d)
	}
}

func TestDecideAllocs(t *testing.T) {
	p, _ := New(testRules(ModeSelected))
	l := listeners[3]
	for _, a := range addrCases {
		if n := testing.AllocsPerRun(100, func() { _ = p.Decide(l, a.addr) }); n != 0 {
			t.Errorf("Decide(%s) allocates %v times, want 0", a.name, n)
		}
	}
}

// manyRules builds the worst case Azure allows: 100 ip rules and 100 vnet rules.
func manyRules() Rules {
	r := Rules{PublicNetworkAccess: ModeSelected}
	for i := range 100 {
		r.IPRules = append(r.IPRules, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i), 0}), 24))
		r.VirtualNetworkRules = append(r.VirtualNetworkRules, Subnet{Name: fmt.Sprintf("snet-%d", i),
			Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0, byte(i)}), 48)})
	}
	return r
}

func BenchmarkDecide(b *testing.B) {
	small, _ := New(testRules(ModeSelected))
	big, _ := New(manyRules())
	en, _ := New(testRules(ModeEnabled))
	nsg := listeners[3]
	cases := []struct {
		name   string
		p      *Policy
		l      *Listener
		client netip.Addr
	}{
		{name: "enabled", p: en, l: listeners[1], client: netip.MustParseAddr("198.51.100.1")},
		{name: "selected/ip-rule-hit", p: small, l: listeners[1], client: netip.MustParseAddr("203.0.113.7")},
		{name: "selected/mapped-vnet-hit", p: small, l: nsg, client: netip.MustParseAddr("::ffff:10.20.1.1")},
		{name: "selected/200-rules-miss-v4", p: big, l: listeners[1], client: netip.MustParseAddr("192.0.2.1")},
		{name: "selected/200-rules-last-v6", p: big, l: listeners[1], client: netip.MustParseAddr("fd00:0:63::1")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = c.p.Decide(c.l, c.client)
			}
		})
	}
}

func TestDecisionLogValue(t *testing.T) {
	p, _ := New(testRules(ModeSelected))
	d := p.Decide(listeners[1], netip.MustParseAddr("::ffff:10.20.1.1"))
	got := d.LogValue().String()
	want := "[allowed=true reason=vnet_rule listener=public client=10.20.1.1 rule=0 prefix=10.20.0.0/16 subnet=snet-app]"
	if got != want {
		t.Errorf("LogValue = %s, want %s", got, want)
	}
}
