package netpolicy

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    netip.Prefix
		wantErr string // substring; empty means success
	}{
		{name: "bare IPv4 is /32", in: "203.0.113.7", want: netip.MustParsePrefix("203.0.113.7/32")},
		{name: "private IPv4 allowed", in: "10.0.0.1", want: netip.MustParsePrefix("10.0.0.1/32")},
		{name: "IPv4 CIDR", in: "10.0.0.0/8", want: netip.MustParsePrefix("10.0.0.0/8")},
		{name: "IPv4 /31 allowed", in: "192.168.1.0/31", want: netip.MustParsePrefix("192.168.1.0/31")},
		{name: "IPv4 /32 allowed", in: "192.168.1.1/32", want: netip.MustParsePrefix("192.168.1.1/32")},
		{name: "IPv4 any", in: "0.0.0.0/0", want: netip.MustParsePrefix("0.0.0.0/0")},
		{name: "bare IPv6 is /128", in: "2001:db8::1", want: netip.MustParsePrefix("2001:db8::1/128")},
		{name: "IPv6 CIDR", in: "fd00::/8", want: netip.MustParsePrefix("fd00::/8")},
		{name: "IPv6 any", in: "::/0", want: netip.MustParsePrefix("::/0")},
		{name: "empty", in: "", wantErr: "empty address or prefix"},
		{name: "IPv4 bits too long", in: "10.0.0.0/33", wantErr: "prefix length out of range"},
		{name: "IPv6 bits too long", in: "2001:db8::/129", wantErr: "prefix length out of range"},
		{name: "negative bits", in: "10.0.0.0/-1", wantErr: "invalid prefix"},
		{name: "missing bits", in: "10.0.0.0/", wantErr: "invalid prefix"},
		{name: "zone on address", in: "fe80::1%eth0", wantErr: "zone identifiers are not allowed"},
		{name: "zone on prefix", in: "fe80::%eth0/64", wantErr: "zone identifiers are not allowed"},
		{name: "host bits set", in: "10.1.2.3/8", wantErr: "did you mean 10.0.0.0/8 or 10.1.2.3/32"},
		{name: "IPv6 host bits set", in: "2001:db8::1/64", wantErr: "did you mean 2001:db8::/64"},
		{name: "mapped address", in: "::ffff:10.0.0.1", wantErr: "write the IPv4 form (10.0.0.1/32)"},
		{name: "mapped prefix", in: "::ffff:10.0.0.0/104", wantErr: "write the IPv4 form (10.0.0.0/8)"},
		{name: "short IPv4", in: "10.0.0", wantErr: "invalid address"},
		{name: "leading zero octet", in: "010.0.0.1", wantErr: "invalid address"},
		{name: "host name", in: "example.com", wantErr: "invalid address"},
		{name: "leading space", in: " 10.0.0.1", wantErr: "invalid address"},
		{name: "range syntax", in: "10.0.0.1-10.0.0.9", wantErr: "invalid address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrefix(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePrefix(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePrefix(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParsePrefix(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Mode
		wantErr bool
	}{
		{name: "enabled", in: "enabled", want: ModeEnabled},
		{name: "ARM spelling", in: "Disabled", want: ModeDisabled},
		{name: "selected", in: "SELECTED", want: ModeSelected},
		{name: "empty", in: "", wantErr: true},
		{name: "unknown", in: "allow", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMode(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseMode(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseMode(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseRules(t *testing.T) {
	tests := []struct {
		name     string
		spec     RulesSpec
		want     Rules
		wantErrs []string // every substring must appear
	}{
		{
			name: "full",
			spec: RulesSpec{
				PublicNetworkAccess: "Selected",
				IPRules:             []string{"203.0.113.7", "10.0.0.0/8", "2001:db8::/32"},
				VirtualNetworkRules: []SubnetSpec{{Name: "snet-app", Prefix: "10.20.0.0/16"}},
				TrustedProxies:      []string{"192.168.0.1"},
			},
			want: Rules{
				PublicNetworkAccess: ModeSelected,
				IPRules: []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32"),
					netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
				VirtualNetworkRules: []Subnet{{Name: "snet-app", Prefix: netip.MustParsePrefix("10.20.0.0/16")}},
				TrustedProxies:      []netip.Prefix{netip.MustParsePrefix("192.168.0.1/32")},
			},
		},
		{
			name: "minimal",
			spec: RulesSpec{PublicNetworkAccess: "disabled"},
			want: Rules{PublicNetworkAccess: ModeDisabled},
		},
		{
			name: "every problem at once",
			spec: RulesSpec{
				IPRules:             []string{"10.0.0.0/8", "10.0.0.0/33"},
				VirtualNetworkRules: []SubnetSpec{{Name: "a", Prefix: "x"}},
				TrustedProxies:      []string{"fe80::1%eth0"},
			},
			wantErrs: []string{"public_network_access: public network access mode is required",
				"ip_rules[1]: invalid prefix", "virtual_network_rules[0] (a): invalid address",
				"trusted_proxies[0]: \"fe80::1%eth0\": zone"},
		},
		{
			name: "duplicate and missing subnet names",
			spec: RulesSpec{PublicNetworkAccess: "selected", VirtualNetworkRules: []SubnetSpec{
				{Name: "a", Prefix: "10.0.0.0/8"}, {Name: "a", Prefix: "10.1.0.0/16"}, {Prefix: "10.2.0.0/16"}}},
			wantErrs: []string{`virtual_network_rules[1]: name "a" already used by virtual_network_rules[0]`,
				"virtual_network_rules[2]: name is required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRules(tt.spec)
			if len(tt.wantErrs) > 0 {
				if err == nil {
					t.Fatalf("ParseRules succeeded, want errors %q", tt.wantErrs)
				}
				for _, w := range tt.wantErrs {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRules: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("ParseRules mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRulesValidate(t *testing.T) {
	tests := []struct {
		name    string
		rules   Rules
		wantErr string
	}{
		{name: "valid", rules: Rules{PublicNetworkAccess: ModeEnabled}},
		{name: "zero mode", rules: Rules{}, wantErr: "mode is required"},
		{name: "upper-case mode", rules: Rules{PublicNetworkAccess: "Enabled"}, wantErr: "must be lower case"},
		{name: "zero prefix", rules: Rules{PublicNetworkAccess: ModeSelected, IPRules: []netip.Prefix{{}}},
			wantErr: "ip_rules[0] (invalid Prefix): invalid prefix"},
		{name: "unmasked prefix", rules: Rules{PublicNetworkAccess: ModeSelected,
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/8")}}, wantErr: "host bits set"},
		{name: "mapped subnet", rules: Rules{PublicNetworkAccess: ModeSelected, VirtualNetworkRules: []Subnet{
			{Name: "s", Prefix: netip.MustParsePrefix("::ffff:10.0.0.0/104")}}}, wantErr: "IPv4-mapped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.rules)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseListener(t *testing.T) {
	tests := []struct {
		name    string
		spec    ListenerSpec
		want    Listener
		wantErr string
	}{
		{name: "default kind is public", spec: ListenerSpec{Name: "pub"}, want: Listener{Name: "pub", Kind: KindPublic}},
		{name: "private endpoint with sources", spec: ListenerSpec{Name: "pe", Kind: "private_endpoint",
			AllowedSources: []string{"10.0.0.0/8", "fd00::/8"}, ProxyProtocol: true},
			want: Listener{Name: "pe", Kind: KindPrivateEndpoint, ProxyProtocol: true,
				AllowedSources: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}},
		{name: "unknown kind", spec: ListenerSpec{Name: "x", Kind: "internal"}, wantErr: `listener "x": kind: unknown listener kind`},
		{name: "bad source", spec: ListenerSpec{Name: "x", AllowedSources: []string{"10.0.0.0/33"}},
			wantErr: `listener "x": allowed_sources[0]`},
		{name: "missing name", spec: ListenerSpec{}, wantErr: "name is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseListener(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseListener error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseListener: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("ParseListener mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParsePrefix checks that whatever ParsePrefix accepts is a valid,
// canonical, unmapped prefix that survives a round trip through its text.
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "10.0.0.0/8", "2001:db8::/32", "::ffff:1.2.3.4", "fe80::1%eth0",
		"10.0.0.0/33", "", "1.2.3.4/0", "::/0", "10.1.2.3/8", "0:0:0:0:0:ffff:102:304/128"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("ParsePrefix(%q) = %v, not a valid canonical prefix", s, p)
		}
		back, err := ParsePrefix(p.String())
		if err != nil || back != p {
			t.Fatalf("round trip of %q: ParsePrefix(%q) = %v, %v", s, p.String(), back, err)
		}
		if _, err := ParseRules(RulesSpec{PublicNetworkAccess: "selected", IPRules: []string{s},
			VirtualNetworkRules: []SubnetSpec{{Name: "n", Prefix: s}}, TrustedProxies: []string{s}}); err != nil {
			t.Fatalf("ParseRules rejects %q that ParsePrefix accepts: %v", s, err)
		}
	})
}
