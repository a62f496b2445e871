package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Command says whether a header relays a client connection or was sent by
// the proxy for itself (health checks).
type Command uint8

// The commands. Version 1 headers are always CommandProxy, "UNKNOWN" ones
// included.
const (
	CommandLocal Command = 0
	CommandProxy Command = 1
)

// Header is a parsed PROXY protocol header.
type Header struct {
	// Version is 1 (text) or 2 (binary).
	Version int
	// Command is CommandLocal or CommandProxy.
	Command Command
	// Source and Destination are the original connection's endpoints. They
	// are invalid for LOCAL, UNKNOWN and unspecified-family headers, whose
	// connections keep their socket addresses.
	Source, Destination netip.AddrPort
}

// Signatures (HAProxy's proxy-protocol.txt §2.1 and §2.2).
const (
	sigV1 = "PROXY "
	sigV2 = "\r\n\r\n\x00\r\nQUIT\n"
	// maxV1 is the longest v1 header, CRLF included.
	maxV1 = 107
)

var errMalformed = errors.New("malformed PROXY protocol header")

// sniff reports which header version br starts with, 0 for none. It waits
// only for as many bytes as it takes to tell, so a client that sends a short
// non-PROXY greeting is not kept waiting.
func sniff(br *bufio.Reader) (int, error) {
	n := 1
	for {
		b, err := br.Peek(n)
		v1 := strings.HasPrefix(sigV1, string(b)) || strings.HasPrefix(string(b), sigV1)
		v2 := strings.HasPrefix(sigV2, string(b)) || strings.HasPrefix(string(b), sigV2)
		switch {
		case !v1 && !v2:
			return 0, nil
		case v1 && len(b) >= len(sigV1):
			return 1, nil
		case v2 && len(b) >= len(sigV2):
			return 2, nil
		case err != nil:
			return 0, fmt.Errorf("read PROXY signature: %w", err)
		}
		n = max(len(b)+1, br.Buffered())
	}
}

// readHeader reads a header of the given version from br.
func readHeader(br *bufio.Reader, version int) (Header, error) {
	if version == 1 {
		return readV1(br)
	}
	return readV2(br)
}

// readV1 reads "PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n".
func readV1(br *bufio.Reader) (Header, error) {
	var line []byte
	for {
		c, err := br.ReadByte()
		if err != nil {
			return Header{}, fmt.Errorf("read PROXY v1 header: %w", err)
		}
		line = append(line, c)
		if c == '\n' {
			break
		}
		if len(line) >= maxV1 {
			return Header{}, fmt.Errorf("PROXY v1 header longer than %d bytes: %w", maxV1, errMalformed)
		}
	}
	return parseV1(line)
}

func parseV1(line []byte) (Header, error) {
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok || !strings.HasPrefix(s, sigV1) {
		return Header{}, fmt.Errorf("PROXY v1 header not terminated by CRLF: %w", errMalformed)
	}
	f := strings.Split(s[len(sigV1):], " ")
	h := Header{Version: 1, Command: CommandProxy}
	if f[0] == "UNKNOWN" {
		return h, nil // the rest of the line is to be ignored
	}
	if len(f) != 5 || (f[0] != "TCP4" && f[0] != "TCP6") {
		return Header{}, fmt.Errorf("PROXY v1 header wants TCP4|TCP6 and 4 fields: %w", errMalformed)
	}
	src, err1 := v1Addr(f[1], f[0] == "TCP4")
	dst, err2 := v1Addr(f[2], f[0] == "TCP4")
	sport, err3 := v1Port(f[3])
	dport, err4 := v1Port(f[4])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return Header{}, fmt.Errorf("PROXY v1 header: %w: %w", errMalformed, err)
	}
	h.Source = netip.AddrPortFrom(src, sport)
	h.Destination = netip.AddrPortFrom(dst, dport)
	return h, nil
}

func v1Addr(s string, v4 bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Is4() != v4 || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("address %q does not match the protocol", s)
	}
	return a, nil
}

func v1Port(s string) (uint16, error) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("bad port %q", s)
	}
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(p), nil
}

// readV2 reads the binary header: 12-byte signature, version/command,
// family/protocol, 2-byte length, addresses, then TLVs, which it skips.
func readV2(br *bufio.Reader) (Header, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(br, fixed[:]); err != nil {
		return Header{}, fmt.Errorf("read PROXY v2 header: %w", err)
	}
	if !bytes.Equal(fixed[:12], []byte(sigV2)) || fixed[12]>>4 != 2 {
		return Header{}, fmt.Errorf("PROXY v2 header: bad signature or version: %w", errMalformed)
	}
	h := Header{Version: 2, Command: Command(fixed[12] & 0x0f)}
	if h.Command != CommandLocal && h.Command != CommandProxy {
		return Header{}, fmt.Errorf("PROXY v2 header: unknown command %d: %w", h.Command, errMalformed)
	}
	family, proto := fixed[13]>>4, fixed[13]&0x0f
	length := int(binary.BigEndian.Uint16(fixed[14:]))
	var addrLen int
	switch {
	case h.Command == CommandLocal || family == 0:
		// LOCAL: the proxy speaks for itself. UNSPEC: the receiver uses the
		// real endpoints. Either way any address block is skipped.
	case family == 1 && proto == 1:
		addrLen = 12
	case family == 2 && proto == 1:
		addrLen = 36
	default:
		return Header{}, fmt.Errorf("PROXY v2 header: family %d protocol %d is not TCP over IPv4 or IPv6: %w",
			family, proto, errMalformed)
	}
	if length < addrLen {
		return Header{}, fmt.Errorf("PROXY v2 header: length %d shorter than its addresses: %w", length, errMalformed)
	}
	var ab [36]byte
	if _, err := io.ReadFull(br, ab[:addrLen]); err != nil {
		return Header{}, fmt.Errorf("read PROXY v2 addresses: %w", err)
	}
	if _, err := br.Discard(length - addrLen); err != nil { // TLVs
		return Header{}, fmt.Errorf("read PROXY v2 TLVs: %w", err)
	}
	switch addrLen {
	case 12:
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ab[0:4])), binary.BigEndian.Uint16(ab[8:]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ab[4:8])), binary.BigEndian.Uint16(ab[10:]))
	case 36:
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(ab[0:16])), binary.BigEndian.Uint16(ab[32:]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(ab[16:32])), binary.BigEndian.Uint16(ab[34:]))
	}
	return h, nil
}
