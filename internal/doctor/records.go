package doctor

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/moat-gw/moat/internal/config"
)

// Record is one address record clients need: Name must resolve to Addr.
type Record struct {
	Name string     `json:"name"`
	Addr netip.Addr `json:"addr"`
	// For says what the record leads to: "listener pe" or "upstream aoai".
	For string `json:"for"`
	// Upstream marks a record for an upstream's private endpoint rather
	// than for moat; it must never be served where the name leads to moat.
	Upstream bool `json:"upstream,omitempty"`
}

// RecordSet is the records and what could not be turned into one.
type RecordSet struct {
	Records []Record `json:"records"`
	Notes   []string `json:"notes,omitempty"`
}

// Records lists the records for cfg. The names clients call moat by are
// the DNS names of each data listener's certificate (what TLS will accept
// anyway) plus names; a name goes to the private_endpoint listeners that
// serve it, or to the public ones when it has no private one. Upstreams
// with connect_address add their endpoint's name at that address.
func Records(cfg *config.Config, names []string) RecordSet {
	var rs RecordSet
	type cand struct {
		l    config.Listener
		addr netip.Addr
	}
	byName := map[string][]cand{}
	var order []string
	wildcards := map[string]bool{}
	for _, l := range cfg.Listeners {
		host, _, err := net.SplitHostPort(l.Address)
		a, perr := netip.ParseAddr(host)
		if err != nil || perr != nil || a.IsUnspecified() || a.IsLoopback() {
			rs.Notes = append(rs.Notes, fmt.Sprintf("listener %s binds %s, not one address clients can reach: bind it to its private address to get records", l.Name, l.Address))
			continue
		}
		served := append([]string(nil), names...)
		if l.TLS != nil {
			sans, err := certDNSNames(l.TLS.CertFile)
			if err != nil {
				rs.Notes = append(rs.Notes, fmt.Sprintf("listener %s: %v", l.Name, err))
			}
			for _, n := range sans {
				if strings.HasPrefix(n, "*.") {
					if !wildcards[n] {
						wildcards[n] = true
						rs.Notes = append(rs.Notes, fmt.Sprintf("listener %s: the certificate's wildcard %s needs one record per name clients call; pass them with --name", l.Name, n))
					}
					continue
				}
				served = append(served, n)
			}
		}
		for _, n := range served {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			if _, ok := byName[n]; !ok {
				order = append(order, n)
			}
			byName[n] = append(byName[n], cand{l, a.Unmap()})
		}
	}
	for _, n := range order {
		cs := byName[n]
		private := slices.ContainsFunc(cs, func(c cand) bool { return c.l.Kind == "private_endpoint" })
		for _, c := range cs {
			if private && c.l.Kind != "private_endpoint" {
				continue
			}
			r := Record{Name: n, Addr: c.addr, For: "listener " + c.l.Name}
			if !slices.ContainsFunc(rs.Records, func(o Record) bool { return o.Name == r.Name && o.Addr == r.Addr }) {
				rs.Records = append(rs.Records, r)
			}
		}
	}
	for _, u := range cfg.Upstreams {
		if u.ConnectAddress == "" {
			continue
		}
		base, err := url.Parse(u.URL())
		ap, aerr := netip.ParseAddrPort(u.ConnectAddress)
		if err != nil || aerr != nil {
			continue
		}
		host := strings.ToLower(base.Hostname())
		if _, err := netip.ParseAddr(host); err == nil {
			continue
		}
		if _, clash := byName[host]; clash {
			rs.Notes = append(rs.Notes, fmt.Sprintf("upstream %s: %s is also a name clients call moat by, so it must lead to moat; moat reaches the upstream with connect_address and needs no record", u.Name, host))
			continue
		}
		rs.Records = append(rs.Records, Record{Name: host, Addr: ap.Addr().Unmap(), For: "upstream " + u.Name, Upstream: true})
	}
	return rs
}

// certDNSNames reads the DNS SANs of the first certificate in a PEM file.
func certDNSNames(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%s holds no certificate", path)
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		return c.DNSNames, nil
	}
}

// checkRecords resolves every listener record from moat's host and checks
// it leads to the listener. A name that is also an upstream's host is
// skipped: moat's host must resolve that one to the upstream, not itself
// (the self-loop check covers it).
func checkRecords(ctx context.Context, cfg *config.Config, o Options, r *Report) {
	upstreamHosts := map[string]bool{}
	for _, u := range cfg.Upstreams {
		if p, err := url.Parse(u.URL()); err == nil {
			upstreamHosts[strings.ToLower(p.Hostname())] = true
		}
	}
	rs := Records(cfg, nil)
	for _, rec := range rs.Records {
		if rec.Upstream || upstreamHosts[rec.Name] {
			continue
		}
		c := Check{Subject: rec.For, Name: "record " + rec.Name}
		ch, err := o.Resolver.Lookup(ctx, rec.Name)
		c.Detail = ch.String()
		pub, isPub := publicListener(cfg, ch.Addrs)
		switch {
		case err != nil:
			c.Status, c.Code, c.Cause = Fail, "dns_error", err.Error()
		case slices.Contains(ch.Addrs, rec.Addr):
			c.Status = OK
			c.Cause = "resolves to the listener's address " + rec.Addr.String()
		case isPub:
			c.Status, c.Code, c.Cause, c.Fix = publicReach(cfg.Network.PublicNetworkAccess, pub)
			c.Cause += "; the private endpoint listener is at " + rec.Addr.String()
		case ch.NXDomain || len(ch.Addrs) == 0:
			c.Status, c.Code = Warn, "record_missing"
			c.Cause = "this host's resolver has no record for the name; clients need it to resolve to " + rec.Addr.String() +
				" (fine if only the clients' resolvers carry it)"
			c.Fix = "add the records from `moat dns records` to the clients' DNS"
		default:
			c.Status, c.Code = Fail, "record_wrong"
			c.Cause = "the name resolves elsewhere, not to the listener's address " + rec.Addr.String() + ": clients sharing this resolver never reach moat"
			c.Fix = "replace the record with the one from `moat dns records`"
		}
		r.Add(c)
	}
}

// publicListener finds a public data listener among addrs.
func publicListener(cfg *config.Config, addrs []netip.Addr) (config.Listener, bool) {
	for _, l := range cfg.Listeners {
		host, _, err := net.SplitHostPort(l.Address)
		a, perr := netip.ParseAddr(host)
		if err == nil && perr == nil && l.Kind == "public" && slices.Contains(addrs, a.Unmap()) {
			return l, true
		}
	}
	return config.Listener{}, false
}

// publicReach says what clients that the name leads to public listener l
// get, under moat's public network access mode.
func publicReach(mode string, l config.Listener) (Status, string, string, string) {
	switch strings.ToLower(mode) {
	case "disabled":
		return Fail, "record_public_disabled",
			"the name leads clients to public listener " + l.Name + ", where public network access is disabled: every call gets 403 Public access is disabled",
			"point the name at the private endpoint listener (moat dns records)"
	case "selected":
		return Warn, "record_public_selected",
			"the name leads clients to public listener " + l.Name + ", where only ip_rules and virtual_network_rules callers are admitted (others get the firewall 403)",
			"point the name at the private endpoint listener for VNet clients"
	default:
		return Warn, "record_public",
			"the name leads clients to public listener " + l.Name + " (public network access enabled) rather than the private endpoint listener", ""
	}
}
