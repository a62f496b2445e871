package netpolicy

import (
	"net/http"
	"net/netip"
	"strings"
)

// Header names as net/http stores them (canonical), so lookups need no
// canonicalization.
const (
	headerXFF       = "X-Forwarded-For"
	headerForwarded = "Forwarded"
)

// ClientAddr returns the address network policy should judge: the socket
// peer, unless the peer is in trusted. Only then are X-Forwarded-For and
// RFC 7239 Forwarded "for=" believed, walked from the right (the hop the
// trusted peer itself appended) past trusted hops to the rightmost untrusted
// address. A header sent by an untrusted peer therefore changes nothing.
//
// The walk stops early and returns the last good hop (the last trusted
// address passed, or the peer) at an entry it cannot use: a malformed
// address, a zone identifier, a Forwarded element without "for=", "unknown"
// or an obfuscated identifier ("_hidden"). Everything left of that entry was
// written by someone moat cannot vouch for.
//
// X-Forwarded-For entries may be bare IPv4 or IPv6 addresses, IPv4:port,
// [IPv6] or [IPv6]:port (Azure Application Gateway appends ports). Forwarded
// follows RFC 7239: IPv6 must be bracketed and quoted
// (for="[2001:db8::1]:4711"), quoted strings may hold commas and semicolons.
//
// When both headers are present they must lead to the same address: a proxy
// that appends to one passes the other through from the client untouched, and
// moat cannot know which one the proxy writes. If they disagree, ClientAddr
// returns the invalid (zero) netip.Addr, which no rule matches, so the request
// is denied wherever its address matters. Empty or whitespace-only headers
// count as absent.
//
// The result is unmapped (IPv4-mapped IPv6 becomes IPv4) and has no zone.
// ClientAddr expects canonical header keys, as net/http's server provides.
func ClientAddr(peer netip.Addr, h http.Header, trusted []netip.Prefix) netip.Addr {
	peer = peer.Unmap().WithZone("")
	if !inAny(trusted, peer) {
		return peer
	}
	x, xok := walk(h[headerXFF], peer, trusted, false)
	f, fok := walk(h[headerForwarded], peer, trusted, true)
	switch {
	case xok && fok:
		if x != f {
			return netip.Addr{}
		}
		return x
	case xok:
		return x
	case fok:
		return f
	}
	return peer
}

func inAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// walk goes through one header's field lines from the last element to the
// first. It reports false if the header holds no element at all.
func walk(lines []string, last netip.Addr, trusted []netip.Prefix, forwarded bool) (netip.Addr, bool) {
	seen := false
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			var (
				elem string
				a    netip.Addr
				ok   bool
			)
			if forwarded {
				rest, elem = lastForwardedElement(rest)
			} else {
				rest, elem = lastXFFElement(rest)
			}
			if elem = trimOWS(elem); elem == "" {
				continue // empty list elements are allowed and ignored (RFC 9110 §5.6.1)
			}
			seen = true
			if forwarded {
				a, ok = parseForwardedElement(elem)
			} else {
				a, ok = parseXFFNode(elem)
			}
			if !ok {
				return last, true
			}
			if !inAny(trusted, a) {
				return a, true
			}
			last = a
		}
	}
	return last, seen
}

func lastXFFElement(s string) (rest, elem string) {
	if i := strings.LastIndexByte(s, ','); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "", s
}

// lastForwardedElement splits off the last comma-separated element, skipping
// commas inside quoted strings. Scanning from the right keeps the elements
// appended by trusted proxies intact whatever a client put on the left.
func lastForwardedElement(s string) (rest, elem string) {
	inQuote := false
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case '"':
			if !inQuote {
				inQuote = true
			} else if !escapedAt(s, i) {
				inQuote = false
			}
		case ',':
			if !inQuote {
				return s[:i], s[i+1:]
			}
		}
	}
	return "", s
}

// escapedAt reports whether s[i] is preceded by an odd number of backslashes.
func escapedAt(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

func trimOWS(s string) string {
	return strings.Trim(s, " \t")
}

// parseXFFNode reads one X-Forwarded-For entry.
func parseXFFNode(s string) (netip.Addr, bool) {
	if strings.IndexByte(s, '%') >= 0 {
		return netip.Addr{}, false
	}
	if s[0] == '[' {
		return parseBracketed(s, validPort)
	}
	if i := strings.IndexByte(s, ':'); i >= 0 && strings.LastIndexByte(s, ':') == i {
		if !validPort(s[i+1:]) {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s[:i])
		if err != nil || !a.Is4() {
			return netip.Addr{}, false
		}
		return a, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parseBracketed reads "[IPv6]" with an optional ":port" checked by port.
func parseBracketed(s string, port func(string) bool) (netip.Addr, bool) {
	end := strings.IndexByte(s, ']')
	if s[0] != '[' || end < 0 {
		return netip.Addr{}, false
	}
	if tail := s[end+1:]; tail != "" && (tail[0] != ':' || !port(tail[1:])) {
		return netip.Addr{}, false
	}
	host := s[1:end]
	if strings.IndexByte(host, '%') >= 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is6() {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parseForwardedElement finds the one "for" parameter of an RFC 7239
// forwarded-element and reads its node.
func parseForwardedElement(e string) (netip.Addr, bool) {
	var (
		node           string
		found, escaped bool
	)
	for {
		e = strings.TrimLeft(e, " \t")
		if e == "" {
			break
		}
		if e[0] == ';' { // empty forwarded-pair
			e = e[1:]
			continue
		}
		n := tokenLen(e)
		if n == 0 || n >= len(e) || e[n] != '=' {
			return netip.Addr{}, false
		}
		name := e[:n]
		e = e[n+1:]
		var (
			val string
			esc bool
			ok  bool
		)
		if val, esc, e, ok = forwardedValue(e); !ok {
			return netip.Addr{}, false
		}
		if strings.EqualFold(name, "for") {
			if found { // each parameter at most once per element (RFC 7239 §4)
				return netip.Addr{}, false
			}
			found, node, escaped = true, val, esc
		}
		e = strings.TrimLeft(e, " \t")
		if e == "" {
			break
		}
		if e[0] != ';' {
			return netip.Addr{}, false
		}
		e = e[1:]
	}
	if !found || escaped {
		return netip.Addr{}, false
	}
	return parseForwardedNode(node)
}

// forwardedValue reads a token or quoted-string value at the start of e. esc
// reports a quoted-pair inside; addresses never need one, so a "for" value
// with one is refused rather than unescaped (which would allocate).
func forwardedValue(e string) (val string, esc bool, rest string, ok bool) {
	if e == "" {
		return "", false, "", false
	}
	if e[0] != '"' {
		n := tokenLen(e)
		if n == 0 {
			return "", false, "", false
		}
		return e[:n], false, e[n:], true
	}
	for i := 1; i < len(e); i++ {
		switch e[i] {
		case '\\':
			esc = true
			i++
		case '"':
			return e[1:i], esc, e[i+1:], true
		}
	}
	return "", false, "", false // unterminated
}

// parseForwardedNode reads an RFC 7239 node: IPv4 or "[IPv6]", with an
// optional port. "unknown" and obfuscated names are not addresses.
func parseForwardedNode(v string) (netip.Addr, bool) {
	if v == "" {
		return netip.Addr{}, false
	}
	if v[0] == '[' {
		return parseBracketed(v, validNodePort)
	}
	host, port, hasPort := strings.Cut(v, ":")
	if hasPort && !validNodePort(port) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// validPort accepts 1 to 5 decimal digits up to 65535.
func validPort(s string) bool {
	if len(s) == 0 || len(s) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n <= 65535
}

// validNodePort accepts an RFC 7239 node-port: a port or "_" obfport.
func validNodePort(s string) bool {
	if len(s) > 1 && s[0] == '_' {
		for i := 1; i < len(s); i++ {
			c := s[i]
			if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
				return false
			}
		}
		return true
	}
	return validPort(s)
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// tokenLen returns the length of the RFC 9110 token at the start of s.
func tokenLen(s string) int {
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return i
		}
	}
	return len(s)
}

func isTchar(c byte) bool {
	if isAlnum(c) {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
