package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/moat-gw/moat/internal/config"
)

// Resolver asks one DNS server directly, with miekg/dns, so doctor sees
// the whole answer the way dig does: every CNAME hop (Go's resolver hides
// them) and the exact rcode. Server "" reads the first nameserver of
// /etc/resolv.conf, which is what moat's own lookups go to.
type Resolver struct {
	// Server is host:port (or a host; port 53 is then added).
	Server string
	// Timeout bounds each query; zero means 3s.
	Timeout time.Duration
}

// Chain is the answer for one name: the CNAME hops in order and the
// addresses at the end of them.
type Chain struct {
	Name   string       `json:"name"`
	CNAMEs []string     `json:"cnames,omitempty"`
	Addrs  []netip.Addr `json:"addrs,omitempty"`
	// Server is the resolver that answered.
	Server string `json:"server"`
	// NXDomain is set when the name (or a CNAME target) does not exist.
	NXDomain bool `json:"nxdomain,omitempty"`
}

// maxHops bounds CNAME chasing; real chains have two or three hops.
const maxHops = 8

// server is the address queries go to.
func (r *Resolver) server() (string, error) {
	if r.Server != "" {
		if _, _, err := net.SplitHostPort(r.Server); err != nil {
			return net.JoinHostPort(r.Server, "53"), nil
		}
		return r.Server, nil
	}
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return "", fmt.Errorf("read /etc/resolv.conf: %w", err)
	}
	if len(cc.Servers) == 0 {
		return "", errors.New("/etc/resolv.conf lists no nameserver")
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

// Lookup resolves name to its A and AAAA addresses, recording every CNAME
// hop. A chain that loops or is longer than eight hops is an error. A
// literal IP is returned as is.
func (r *Resolver) Lookup(ctx context.Context, name string) (Chain, error) {
	if a, err := netip.ParseAddr(name); err == nil {
		return Chain{Name: name, Addrs: []netip.Addr{a.Unmap()}}, nil
	}
	srv, err := r.server()
	if err != nil {
		return Chain{Name: name}, err
	}
	ch := Chain{Name: name, Server: srv}
	// seen holds every name on the chain so far: a CNAME back to one of
	// them is a loop, which resolvers answer with SERVFAIL or a truncated
	// chain and which doctor names instead.
	seen := map[string]bool{strings.ToLower(dns.Fqdn(name)): true}
	cur := dns.Fqdn(name)
	for hop := 0; ; hop++ {
		if hop > maxHops {
			return ch, fmt.Errorf("more than %d CNAME hops", maxHops)
		}
		next := cur
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
			in, err := r.exchange(ctx, srv, cur, qt)
			if err != nil {
				return ch, err
			}
			if in.Rcode == dns.RcodeNameError {
				ch.NXDomain = true
				return ch, nil
			}
			if in.Rcode == dns.RcodeServerFailure {
				// Resolvers answer a looping chain with SERVFAIL; walk it
				// one CNAME question at a time to tell a loop from an outage.
				if err := r.walkCNAMEs(ctx, srv, cur, &ch, seen); err != nil {
					return ch, err
				}
			}
			if in.Rcode != dns.RcodeSuccess {
				return ch, fmt.Errorf("%s %s: %s", strings.TrimSuffix(cur, "."), dns.TypeToString[qt], dns.RcodeToString[in.Rcode])
			}
			// The answer section holds the chain the server followed;
			// walk it from cur so unrelated records are ignored.
			end, cnames, addrs := follow(in.Answer, cur)
			if qt == dns.TypeA {
				for _, c := range cnames {
					k := strings.ToLower(dns.Fqdn(c))
					if seen[k] {
						return ch, fmt.Errorf("CNAME loop: %s points back to %s", ch.last(), c)
					}
					seen[k] = true
					ch.CNAMEs = append(ch.CNAMEs, c)
				}
				next = end
			}
			ch.Addrs = append(ch.Addrs, addrs...)
		}
		if len(ch.Addrs) > 0 || strings.EqualFold(next, cur) {
			return ch, nil
		}
		// A server that does not recurse stops at the CNAME: ask for its target.
		cur = next
	}
}

// walkCNAMEs follows name's chain by asking for CNAME records only, which
// resolvers answer without chasing, and returns an error naming the loop if
// there is one.
func (r *Resolver) walkCNAMEs(ctx context.Context, srv, name string, ch *Chain, seen map[string]bool) error {
	cur := name
	for range maxHops {
		in, err := r.exchange(ctx, srv, cur, dns.TypeCNAME)
		if err != nil || in.Rcode != dns.RcodeSuccess {
			return nil
		}
		var target string
		for _, rr := range in.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, cur) {
				target = c.Target
			}
		}
		if target == "" {
			return nil
		}
		k := strings.ToLower(dns.Fqdn(target))
		if seen[k] {
			return fmt.Errorf("CNAME loop: %s points back to %s", strings.TrimSuffix(cur, "."), strings.TrimSuffix(target, "."))
		}
		seen[k] = true
		ch.CNAMEs = append(ch.CNAMEs, strings.TrimSuffix(target, "."))
		cur = target
	}
	return nil
}

// last is the name at the end of the chain so far.
func (c Chain) last() string {
	if len(c.CNAMEs) == 0 {
		return c.Name
	}
	return c.CNAMEs[len(c.CNAMEs)-1]
}

// follow walks CNAMEs from name through answer and returns the final name,
// the hops and the addresses of the final name.
func follow(answer []dns.RR, name string) (string, []string, []netip.Addr) {
	var (
		hops  []string
		addrs []netip.Addr
	)
	cur := strings.ToLower(name)
	for i := 0; i <= maxHops; i++ { // bounded: a looping answer is caught by the caller
		moved := false
		for _, rr := range answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.ToLower(c.Hdr.Name) == cur {
				cur = strings.ToLower(c.Target)
				hops = append(hops, strings.TrimSuffix(c.Target, "."))
				moved = true
				break
			}
		}
		if !moved {
			break
		}
	}
	for _, rr := range answer {
		if !strings.EqualFold(rr.Header().Name, cur) {
			continue
		}
		switch v := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
				addrs = append(addrs, a)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA); ok {
				addrs = append(addrs, a.Unmap())
			}
		}
	}
	return cur, hops, addrs
}

// exchange sends one recursive query over UDP, retrying over TCP when the
// answer is truncated.
func (r *Resolver) exchange(ctx context.Context, srv, name string, qt uint16) (*dns.Msg, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qt)
	m.RecursionDesired = true
	c := &dns.Client{Timeout: timeout}
	in, _, err := c.ExchangeContext(ctx, m, srv)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, srv)
	}
	if err != nil {
		return nil, fmt.Errorf("query %s %s at %s: %w", strings.TrimSuffix(name, "."), dns.TypeToString[qt], srv, err)
	}
	return in, nil
}

// Private reports whether a is an address only a private network reaches:
// RFC 1918, CGNAT (RFC 6598, used by some VNets), ULA, loopback and link-local.
func Private(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || cgnat.Contains(a)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// ViaPrivateLink reports whether the chain passes through a privatelink zone.
func (c Chain) ViaPrivateLink() bool {
	for _, n := range c.CNAMEs {
		if config.PrivateLinkZone(n) {
			return true
		}
	}
	return config.PrivateLinkZone(c.Name)
}

// String renders the chain like nslookup: name → CNAME … → addresses.
func (c Chain) String() string {
	var b strings.Builder
	b.WriteString(c.Name)
	for _, n := range c.CNAMEs {
		b.WriteString(" → CNAME " + n)
	}
	if c.NXDomain {
		b.WriteString(" → NXDOMAIN")
		return b.String()
	}
	if len(c.Addrs) == 0 {
		b.WriteString(" → no address")
	}
	for i, a := range c.Addrs {
		sep := ", "
		if i == 0 {
			sep = " → "
		}
		kind := "public"
		if Private(a) {
			kind = "private"
		}
		b.WriteString(sep + a.String() + " (" + kind + ")")
	}
	return b.String()
}
