package doctor

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/upstream"
)

// Options tune a run. The zero value uses the system's resolver, the real
// clock and credentials built from config as the gateway builds them.
type Options struct {
	// Resolver answers DNS questions; nil asks the system's nameserver.
	Resolver *Resolver
	// Timeout bounds each network step (dial, handshake, probe); zero means 10s.
	Timeout time.Duration
	// Now is the clock for certificate expiry.
	Now func() time.Time
	// Credential builds an upstream's authenticator; nil uses
	// upstream.NewEntra for the Entra modes and the configured keys.
	Credential func(config.Upstream) (upstream.Authenticator, error)

	dialer *net.Dialer // the client run's dialer; nil: a plain one
}

func (o *Options) defaults() {
	if o.Resolver == nil {
		o.Resolver = &Resolver{}
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Credential == nil {
		o.Credential = Credential
	}
}

// Credential builds the authenticator the gateway would use for u.
func Credential(u config.Upstream) (upstream.Authenticator, error) {
	return u.Authenticator()
}

// Run checks every upstream of cfg and the DNS records of its listeners,
// from the host it runs on (where moat runs).
func Run(ctx context.Context, cfg *config.Config, o Options) *Report {
	o.defaults()
	r := &Report{}
	self := SelfAddrs(cfg)
	for _, u := range cfg.Upstreams {
		var deps []Probe
		for _, d := range cfg.Deployments {
			for _, m := range d.Upstreams {
				if m.Upstream == u.Name {
					deps = append(deps, Probe{Deployment: d.Name, Remote: m.Deployment})
				}
			}
		}
		checkUpstream(ctx, u, deps, self, o, r)
	}
	checkRecords(ctx, cfg, o, r)
	return r
}

// Probe is one deployment to call on an upstream.
type Probe struct {
	// Deployment is moat's name; Remote the name on the upstream.
	Deployment, Remote string
}

// Listener is one of moat's own sockets, for the self-loop check.
type Listener struct {
	Name string
	Addr netip.AddrPort
}

// SelfAddrs lists the addresses moat's listeners accept on. A listener on
// an unspecified address (0.0.0.0, ::) accepts on every local address, so
// it is expanded to the host's interface addresses.
func SelfAddrs(cfg *config.Config) []Listener {
	var out []Listener
	for _, l := range cfg.AllListeners() {
		host, port, err := net.SplitHostPort(l.Address)
		if err != nil {
			continue
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			continue
		}
		a, err := netip.ParseAddr(host)
		if host == "" || (err == nil && a.IsUnspecified()) {
			for _, la := range localAddrs() {
				out = append(out, Listener{l.Name, netip.AddrPortFrom(la, uint16(p))})
			}
			continue
		}
		if err != nil {
			continue // a name: the gateway would resolve it at bind; nothing to compare
		}
		out = append(out, Listener{l.Name, netip.AddrPortFrom(a.Unmap(), uint16(p))})
	}
	return out
}

func localAddrs() []netip.Addr {
	var out []netip.Addr
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}
