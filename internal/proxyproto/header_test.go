package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// v1 encodes a version 1 header for src and dst.
func v1(src, dst netip.AddrPort) []byte {
	proto := "TCP4"
	if src.Addr().Is6() {
		proto = "TCP6"
	}
	return fmt.Appendf(nil, "PROXY %s %s %s %d %d\r\n", proto, src.Addr(), dst.Addr(), src.Port(), dst.Port())
}

// v2 encodes a version 2 header. cmd is the command nibble, famProto the
// family/protocol byte; tlvs are appended after the addresses.
func v2(cmd, famProto byte, src, dst netip.AddrPort, tlvs []byte) []byte {
	var addrs []byte
	switch famProto >> 4 {
	case 1:
		s, d := src.Addr().As4(), dst.Addr().As4()
		addrs = append(append(addrs, s[:]...), d[:]...)
	case 2:
		s, d := src.Addr().As16(), dst.Addr().As16()
		addrs = append(append(addrs, s[:]...), d[:]...)
	}
	if len(addrs) > 0 {
		addrs = binary.BigEndian.AppendUint16(addrs, src.Port())
		addrs = binary.BigEndian.AppendUint16(addrs, dst.Port())
	}
	b := append([]byte(sigV2), 0x20|cmd, famProto)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)+len(tlvs)))
	return append(append(b, addrs...), tlvs...)
}

var (
	src4 = netip.MustParseAddrPort("203.0.113.7:4711")
	dst4 = netip.MustParseAddrPort("10.0.0.1:443")
	src6 = netip.MustParseAddrPort("[2001:db8::7]:4711")
	dst6 = netip.MustParseAddrPort("[fd00::1]:443")
	// tlvs are an ALPN and an authority TLV, which the parser must skip.
	tlvs = []byte{0x01, 0x00, 0x02, 'h', '2', 0x02, 0x00, 0x03, 'a', 'b', 'c'}
)

// parse runs sniff and readHeader like the listener does and returns the
// bytes left after the header.
func parse(data []byte) (Header, int, []byte, error) {
	br := bufio.NewReaderSize(bytes.NewReader(data), 256)
	v, err := sniff(br)
	if err != nil || v == 0 {
		rest, _ := io.ReadAll(br)
		return Header{}, v, rest, err
	}
	h, err := readHeader(br, v)
	rest, _ := io.ReadAll(br)
	return h, v, rest, err
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    Header
		version int
		wantErr bool
	}{
		{name: "no header", in: []byte("GET / HTTP/1.1\r\n"), version: 0},
		{name: "TLS client hello", in: []byte{0x16, 0x03, 0x01, 0x02, 0x00}, version: 0},
		{name: "h2 preface", in: []byte("PRI * HTTP/2.0\r\n"), version: 0},
		{name: "v1 TCP4", in: v1(src4, dst4), version: 1, want: Header{Version: 1, Command: CommandProxy, Source: src4, Destination: dst4}},
		{name: "v1 TCP6", in: v1(src6, dst6), version: 1, want: Header{Version: 1, Command: CommandProxy, Source: src6, Destination: dst6}},
		{name: "v1 UNKNOWN", in: []byte("PROXY UNKNOWN\r\n"), version: 1, want: Header{Version: 1, Command: CommandProxy}},
		{name: "v1 UNKNOWN with addresses", in: []byte("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"), version: 1, want: Header{Version: 1, Command: CommandProxy}},
		{name: "v1 longest", in: []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
			version: 1, want: Header{Version: 1, Command: CommandProxy,
				Source:      netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
				Destination: netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")}},
		{name: "v1 TCP4 with IPv6 address", in: []byte("PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n"), version: 1, wantErr: true},
		{name: "v1 TCP6 with IPv4 address", in: []byte("PROXY TCP6 1.2.3.4 10.0.0.1 1 2\r\n"), version: 1, wantErr: true},
		{name: "v1 zone", in: []byte("PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n"), version: 1, wantErr: true},
		{name: "v1 bad port", in: []byte("PROXY TCP4 1.2.3.4 10.0.0.1 65536 2\r\n"), version: 1, wantErr: true},
		{name: "v1 signed port", in: []byte("PROXY TCP4 1.2.3.4 10.0.0.1 +1 2\r\n"), version: 1, wantErr: true},
		{name: "v1 double space", in: []byte("PROXY TCP4  1.2.3.4 10.0.0.1 1 2\r\n"), version: 1, wantErr: true},
		{name: "v1 missing field", in: []byte("PROXY TCP4 1.2.3.4 10.0.0.1 1\r\n"), version: 1, wantErr: true},
		{name: "v1 bare LF", in: []byte("PROXY TCP4 1.2.3.4 10.0.0.1 1 2\n"), version: 1, wantErr: true},
		{name: "v1 unknown protocol", in: []byte("PROXY UDP4 1.2.3.4 10.0.0.1 1 2\r\n"), version: 1, wantErr: true},
		{name: "v1 too long", in: append([]byte("PROXY UNKNOWN "), bytes.Repeat([]byte("x"), 200)...), version: 1, wantErr: true},
		{name: "v1 truncated", in: []byte("PROXY TCP4 1.2.3.4"), version: 1, wantErr: true},
		{name: "v2 TCP4", in: v2(1, 0x11, src4, dst4, nil), version: 2, want: Header{Version: 2, Command: CommandProxy, Source: src4, Destination: dst4}},
		{name: "v2 TCP6 with TLVs", in: v2(1, 0x21, src6, dst6, tlvs), version: 2, want: Header{Version: 2, Command: CommandProxy, Source: src6, Destination: dst6}},
		{name: "v2 LOCAL", in: v2(0, 0x00, src4, dst4, nil), version: 2, want: Header{Version: 2, Command: CommandLocal}},
		{name: "v2 LOCAL with addresses", in: v2(0, 0x11, src4, dst4, tlvs), version: 2, want: Header{Version: 2, Command: CommandLocal}},
		{name: "v2 PROXY unspecified family", in: v2(1, 0x00, src4, dst4, tlvs), version: 2, want: Header{Version: 2, Command: CommandProxy}},
		{name: "v2 UDP refused", in: v2(1, 0x12, src4, dst4, nil), version: 2, wantErr: true},
		{name: "v2 UNIX refused", in: v2(1, 0x31, src4, dst4, nil), version: 2, wantErr: true},
		{name: "v2 bad version", in: append(append([]byte(sigV2), 0x11, 0x11, 0, 12), make([]byte, 12)...), version: 2, wantErr: true},
		{name: "v2 bad command", in: v2(2, 0x11, src4, dst4, nil), version: 2, wantErr: true},
		{name: "v2 length too short", in: append([]byte(sigV2), 0x21, 0x21, 0, 12), version: 2, wantErr: true},
		{name: "v2 truncated addresses", in: v2(1, 0x11, src4, dst4, nil)[:20], version: 2, wantErr: true},
		{name: "v2 truncated TLVs", in: v2(1, 0x11, src4, dst4, tlvs)[:30], version: 2, wantErr: true},
		{name: "signature prefix then other bytes", in: []byte("\r\n\r\n\x00"), version: 0},
		{name: "v1 signature prefix then other bytes", in: []byte("PROX"), version: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := []byte("payload")
			h, v, rest, err := parse(append(tt.in, payload...))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parse succeeded with %+v, want error", h)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if v != tt.version {
				t.Errorf("version = %d, want %d", v, tt.version)
			}
			if diff := cmp.Diff(tt.want, h, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
				t.Errorf("header mismatch (-want +got):\n%s", diff)
			}
			wantRest := payload
			if v == 0 {
				wantRest = append(tt.in, payload...)
			}
			if !bytes.Equal(rest, wantRest) {
				t.Errorf("bytes after header = %q, want %q", rest, wantRest)
			}
		})
	}
}

func TestSniffEOFInSignature(t *testing.T) {
	for _, in := range []string{"", "PROX", "\r\n\r\n\x00\r\nQU"} {
		if _, _, _, err := parse([]byte(in)); !errors.Is(err, io.EOF) {
			t.Errorf("parse(%q) error = %v, want io.EOF", in, err)
		}
	}
}

func TestMalformedIsTagged(t *testing.T) {
	for _, in := range [][]byte{[]byte("PROXY TCP4 x y 1 2\r\n"), v2(1, 0x12, src4, dst4, nil)} {
		if _, _, _, err := parse(in); !errors.Is(err, errMalformed) {
			t.Errorf("parse(%q) error = %v, want errMalformed", in, err)
		}
	}
}

// checkParse is the invariant both fuzz targets share: a parsed header
// re-encodes to bytes that parse to the same header, and nothing past the
// header is consumed.
func checkParse(t *testing.T, data []byte) {
	h, v, rest, err := parse(data)
	if err != nil || v == 0 {
		return
	}
	if h.Version != v {
		t.Fatalf("header version %d from sniffed version %d", h.Version, v)
	}
	if len(rest) > len(data) {
		t.Fatalf("rest longer than input")
	}
	if !h.Source.IsValid() {
		return
	}
	var enc []byte
	if v == 1 {
		enc = v1(h.Source, h.Destination)
	} else {
		fam := byte(0x11)
		if h.Source.Addr().Is6() {
			fam = 0x21
		}
		enc = v2(1, fam, h.Source, h.Destination, nil)
	}
	h2, _, rest2, err := parse(append(enc, rest...))
	if err != nil {
		t.Fatalf("re-encoded %+v as %q: %v", h, enc, err)
	}
	if h2 != h || !bytes.Equal(rest2, rest) {
		t.Fatalf("round trip: %+v (rest %q) became %+v (rest %q)", h, rest, h2, rest2)
	}
}

func FuzzParseV1(f *testing.F) {
	f.Add(v1(src4, dst4))
	f.Add(v1(src6, dst6))
	f.Add([]byte("PROXY UNKNOWN\r\nGET / HTTP/1.1\r\n"))
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 00080 1\r\n"))
	f.Add([]byte("PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n"))
	f.Fuzz(checkParse)
}

func FuzzParseV2(f *testing.F) {
	f.Add(v2(1, 0x11, src4, dst4, nil))
	f.Add(v2(1, 0x21, src6, dst6, tlvs))
	f.Add(v2(0, 0x00, src4, dst4, nil))
	f.Add(append(v2(1, 0x11, src4, dst4, tlvs), "\x16\x03\x01"...))
	f.Fuzz(checkParse)
}
