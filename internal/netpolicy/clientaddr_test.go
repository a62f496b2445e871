package netpolicy

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

var testTrusted = []netip.Prefix{pfx("10.0.0.0/8"), pfx("fd00::/8")}

func TestClientAddr(t *testing.T) {
	const proxy = "10.0.0.1"
	tests := []struct {
		name string
		peer string // empty means the invalid address
		xff  []string
		fwd  []string
		want string // empty means the invalid address
	}{
		{name: "untrusted peer, no headers", peer: "198.51.100.1", want: "198.51.100.1"},
		{name: "untrusted peer spoofs XFF", peer: "198.51.100.1", xff: []string{"10.0.0.9"}, want: "198.51.100.1"},
		{name: "untrusted peer spoofs Forwarded", peer: "198.51.100.1", fwd: []string{"for=10.0.0.9"}, want: "198.51.100.1"},
		{name: "untrusted mapped peer is unmapped", peer: "::ffff:198.51.100.1", want: "198.51.100.1"},
		{name: "invalid peer", peer: "", xff: []string{"203.0.113.7"}, want: ""},
		{name: "trusted peer, no headers", peer: proxy, want: proxy},
		{name: "trusted mapped peer", peer: "::ffff:10.0.0.1", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{name: "trusted IPv6 peer", peer: "fd00::1", xff: []string{"2001:db8::7"}, want: "2001:db8::7"},

		{name: "XFF single", peer: proxy, xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{name: "XFF rightmost untrusted wins", peer: proxy, xff: []string{"10.0.0.9, 203.0.113.7"}, want: "203.0.113.7"},
		{name: "XFF skips trusted hops", peer: proxy, xff: []string{"198.51.100.1, 203.0.113.7, 10.0.0.3, 10.0.0.2"}, want: "203.0.113.7"},
		{name: "XFF across field lines", peer: proxy, xff: []string{"198.51.100.1, 203.0.113.7", "10.0.0.2"}, want: "203.0.113.7"},
		{name: "XFF all trusted gives leftmost", peer: proxy, xff: []string{"10.0.0.3, 10.0.0.2"}, want: "10.0.0.3"},
		{name: "XFF malformed stops at last good hop", peer: proxy, xff: []string{"203.0.113.7, garbage, 10.0.0.2"}, want: "10.0.0.2"},
		{name: "XFF malformed rightmost gives peer", peer: proxy, xff: []string{"203.0.113.7, not-an-ip"}, want: proxy},
		{name: "XFF unknown stops", peer: proxy, xff: []string{"203.0.113.7, unknown"}, want: proxy},
		{name: "XFF IPv4 with port", peer: proxy, xff: []string{"203.0.113.7:4711"}, want: "203.0.113.7"},
		{name: "XFF bad port", peer: proxy, xff: []string{"203.0.113.7:99999"}, want: proxy},
		{name: "XFF bracketed IPv6 with port", peer: proxy, xff: []string{"[2001:db8::1]:4711"}, want: "2001:db8::1"},
		{name: "XFF bracketed IPv6", peer: proxy, xff: []string{"[2001:db8::1]"}, want: "2001:db8::1"},
		{name: "XFF bracketed IPv4 refused", peer: proxy, xff: []string{"[203.0.113.7]"}, want: proxy},
		{name: "XFF bare IPv6", peer: proxy, xff: []string{"2001:db8::1"}, want: "2001:db8::1"},
		{name: "XFF mapped is unmapped", peer: proxy, xff: []string{"::ffff:203.0.113.7"}, want: "203.0.113.7"},
		{name: "XFF mapped trusted hop is skipped", peer: proxy, xff: []string{"203.0.113.7, ::ffff:10.0.0.2"}, want: "203.0.113.7"},
		{name: "XFF zone refused", peer: proxy, xff: []string{"fe80::1%eth0"}, want: proxy},
		{name: "XFF empty elements ignored", peer: proxy, xff: []string{" 203.0.113.7 ,, 10.0.0.2 , "}, want: "203.0.113.7"},
		{name: "XFF whitespace only is absent", peer: proxy, xff: []string{" \t"}, fwd: []string{"for=203.0.113.7"}, want: "203.0.113.7"},

		{name: "Forwarded RFC 7239 example", peer: proxy, fwd: []string{"for=192.0.2.60;proto=http;by=203.0.113.43"}, want: "192.0.2.60"},
		{name: "Forwarded quoted IPv6 with port", peer: proxy, fwd: []string{`for="[2001:db8:cafe::17]:4711"`}, want: "2001:db8:cafe::17"},
		{name: "Forwarded quoted IPv4 with port", peer: proxy, fwd: []string{`for="192.0.2.60:8080"`}, want: "192.0.2.60"},
		{name: "Forwarded case-insensitive name", peer: proxy, fwd: []string{"For=192.0.2.60"}, want: "192.0.2.60"},
		{name: "Forwarded list", peer: proxy, fwd: []string{"for=192.0.2.43, for=198.51.100.17"}, want: "198.51.100.17"},
		{name: "Forwarded skips trusted", peer: proxy, fwd: []string{"for=192.0.2.43, for=10.0.0.5;by=10.0.0.1"}, want: "192.0.2.43"},
		{name: "Forwarded across field lines", peer: proxy, fwd: []string{"for=192.0.2.43", `for="[fd00::5]"`}, want: "192.0.2.43"},
		{name: "Forwarded obfuscated stops", peer: proxy, fwd: []string{`For="_gazonk"`}, want: proxy},
		{name: "Forwarded obfuscated mid-chain", peer: proxy, fwd: []string{"for=192.0.2.43, for=_hidden, for=10.0.0.5"}, want: "10.0.0.5"},
		{name: "Forwarded obfuscated port is fine", peer: proxy, fwd: []string{`for="192.0.2.43:_p1"`}, want: "192.0.2.43"},
		{name: "Forwarded unknown stops", peer: proxy, fwd: []string{"for=unknown"}, want: proxy},
		{name: "Forwarded quoted comma and semicolon", peer: proxy, fwd: []string{`for=192.0.2.1;ext="a,b;c", for=10.0.0.5`}, want: "192.0.2.1"},
		{name: "Forwarded escape in other parameter", peer: proxy, fwd: []string{`for=192.0.2.1;ext="a\"b"`}, want: "192.0.2.1"},
		{name: "Forwarded escape in for refused", peer: proxy, fwd: []string{`for="\192.0.2.1"`}, want: proxy},
		{name: "Forwarded left garbage cannot hide right hop", peer: proxy, fwd: []string{`for="garbage, for=198.51.100.17`}, want: "198.51.100.17"},
		{name: "Forwarded unterminated quote", peer: proxy, fwd: []string{`for="198.51.100.17`}, want: proxy},
		{name: "Forwarded unquoted IPv6 refused", peer: proxy, fwd: []string{"for=[2001:db8::1]"}, want: proxy},
		{name: "Forwarded unbracketed IPv6 refused", peer: proxy, fwd: []string{`for="2001:db8::1"`}, want: proxy},
		{name: "Forwarded unquoted port refused", peer: proxy, fwd: []string{"for=192.0.2.1:8080"}, want: proxy},
		{name: "Forwarded without for stops", peer: proxy, fwd: []string{"for=192.0.2.1, proto=https;by=10.0.0.1"}, want: proxy},
		{name: "Forwarded duplicate for refused", peer: proxy, fwd: []string{"for=192.0.2.1;for=192.0.2.2"}, want: proxy},
		{name: "Forwarded empty pairs allowed", peer: proxy, fwd: []string{";for=192.0.2.1;;proto=http;"}, want: "192.0.2.1"},
		{name: "Forwarded zone refused", peer: proxy, fwd: []string{`for="[fe80::1%eth0]"`}, want: proxy},

		{name: "both agree", peer: proxy, xff: []string{"203.0.113.7"}, fwd: []string{"for=203.0.113.7"}, want: "203.0.113.7"},
		{name: "both disagree is unknown", peer: proxy, xff: []string{"203.0.113.7"}, fwd: []string{"for=198.51.100.1"}, want: ""},
		{name: "client Forwarded through XFF proxy", peer: proxy, xff: []string{"203.0.113.7"}, fwd: []string{"for=10.0.0.9"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var peer, want netip.Addr
			if tt.peer != "" {
				peer = netip.MustParseAddr(tt.peer)
			}
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			h := http.Header{}
			for _, v := range tt.xff {
				h.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.fwd {
				h.Add("Forwarded", v)
			}
			if got := ClientAddr(peer, h, testTrusted); got != want {
				t.Errorf("ClientAddr(%v, xff=%q, fwd=%q) = %v, want %v", tt.peer, tt.xff, tt.fwd, got, want)
			}
		})
	}
}

func TestClientAddrPolicyAndNilHeader(t *testing.T) {
	p, err := New(Rules{PublicNetworkAccess: ModeEnabled, TrustedProxies: testTrusted})
	if err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddr("10.0.0.1")
	if got := p.ClientAddr(peer, nil); got != peer {
		t.Errorf("ClientAddr with nil header = %v, want %v", got, peer)
	}
	h := http.Header{"X-Forwarded-For": {"203.0.113.7"}}
	if got, want := p.ClientAddr(peer, h), netip.MustParseAddr("203.0.113.7"); got != want {
		t.Errorf("Policy.ClientAddr = %v, want %v", got, want)
	}
}

func TestClientAddrAllocs(t *testing.T) {
	peer := netip.MustParseAddr("10.0.0.1")
	h := http.Header{
		"X-Forwarded-For": {"198.51.100.1, 203.0.113.7:4711, 10.0.0.3"},
		"Forwarded":       {`for=198.51.100.1, for="203.0.113.7:4711";proto=https, for=10.0.0.3`},
	}
	if n := testing.AllocsPerRun(100, func() { _ = ClientAddr(peer, h, testTrusted) }); n != 0 {
		t.Errorf("ClientAddr allocates %v times, want 0", n)
	}
}

// refXFF is a deliberately naive reference for the X-Forwarded-For walk.
func refXFF(peer netip.Addr, lines []string, trusted []netip.Prefix) netip.Addr {
	var elems []string
	for _, l := range lines {
		for _, e := range strings.Split(l, ",") {
			if e = strings.Trim(e, " \t"); e != "" {
				elems = append(elems, e)
			}
		}
	}
	last := peer
	for i := len(elems) - 1; i >= 0; i-- {
		a, ok := parseXFFNode(elems[i])
		if !ok {
			return last
		}
		if !inAny(trusted, a) {
			return a
		}
		last = a
	}
	return last
}

// FuzzClientAddr checks ClientAddr's invariants: untrusted peers are never
// overridden, results are normalized, and the X-Forwarded-For walk agrees
// with a naive reference.
func FuzzClientAddr(f *testing.F) {
	f.Add([]byte{10, 0, 0, 1}, "198.51.100.1, 203.0.113.7, 10.0.0.2", "")
	f.Add([]byte{10, 0, 0, 1}, "", `for="[2001:db8:cafe::17]:4711", for=10.0.0.5;proto=https`)
	f.Add([]byte{10, 0, 0, 1}, "[2001:db8::1]:80, ::ffff:10.0.0.2", `for=_hidden, for="garbage`)
	f.Add([]byte{198, 51, 100, 1}, "10.0.0.9", "for=10.0.0.9")
	f.Add([]byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "fe80::1%eth0", `for=1.2.3.4;ext="a\"b,c"`)
	f.Fuzz(func(t *testing.T, peerBytes []byte, xff, fwd string) {
		peer, _ := netip.AddrFromSlice(peerBytes)
		h := http.Header{}
		xffLines := strings.Split(xff, "\n")
		fwdLines := strings.Split(fwd, "\n")
		if xff != "" {
			h["X-Forwarded-For"] = xffLines
		}
		if fwd != "" {
			h["Forwarded"] = fwdLines
		}
		got := ClientAddr(peer, h, testTrusted)
		norm := peer.Unmap().WithZone("")
		if !inAny(testTrusted, norm) && got != norm {
			t.Fatalf("untrusted peer %v overridden by headers: got %v", peer, got)
		}
		if got.IsValid() && (got.Is4In6() || got.Zone() != "") {
			t.Fatalf("result %v is not normalized", got)
		}
		if inAny(testTrusted, norm) && fwd == "" {
			if want := refXFF(norm, xffLines, testTrusted); got != want {
				t.Fatalf("XFF walk of %q = %v, reference says %v", xff, got, want)
			}
		}
	})
}

func BenchmarkClientAddr(b *testing.B) {
	cases := []struct {
		name string
		peer netip.Addr
		h    http.Header
	}{
		{name: "untrusted-peer", peer: netip.MustParseAddr("198.51.100.1"),
			h: http.Header{"X-Forwarded-For": {"203.0.113.7"}}},
		{name: "xff-3-hops", peer: netip.MustParseAddr("10.0.0.1"),
			h: http.Header{"X-Forwarded-For": {"198.51.100.1, 203.0.113.7, 10.0.0.3"}}},
		{name: "forwarded-3-hops", peer: netip.MustParseAddr("10.0.0.1"),
			h: http.Header{"Forwarded": {`for=198.51.100.1, for="[2001:db8::7]:4711";proto=https, for=10.0.0.3`}}},
		{name: "both", peer: netip.MustParseAddr("10.0.0.1"), h: http.Header{
			"X-Forwarded-For": {"203.0.113.7, 10.0.0.3"},
			"Forwarded":       {"for=203.0.113.7, for=10.0.0.3"}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = ClientAddr(c.peer, c.h, testTrusted)
			}
		})
	}
}
