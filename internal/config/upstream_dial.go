package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/moat-gw/moat/internal/upstream"
)

// PrivateLinkZone reports whether host is a name inside an Azure
// privatelink zone (contoso.privatelink.openai.azure.com). Such a name is
// the target of the public name's CNAME, never a name to call: the
// service's certificate is issued for the public name only, so TLS fails
// with a hostname mismatch (the practitioners' SSLError).
func PrivateLinkZone(host string) bool {
	for _, label := range strings.Split(strings.ToLower(strings.TrimSuffix(host, ".")), ".") {
		if label == "privatelink" {
			return true
		}
	}
	return false
}

// PublicName turns a privatelink name back into the public one it stands
// for (contoso.privatelink.openai.azure.com → contoso.openai.azure.com), to
// suggest the fix.
func PublicName(host string) string {
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	var out []string
	for _, l := range labels {
		if !strings.EqualFold(l, "privatelink") {
			out = append(out, l)
		}
	}
	return strings.Join(out, ".")
}

// URL is the endpoint or base URL moat calls for u ("" for the simulator).
func (u *Upstream) URL() string {
	p, ok := upstream.Lookup(u.Type)
	if !ok {
		return u.BaseURL
	}
	switch p.Spec().URL {
	case upstream.URLEndpoint:
		return u.Endpoint
	case upstream.URLBaseURL:
		return u.BaseURL
	}
	return ""
}

// Authenticator builds the credentials calls to u present: its protocol's
// key header or Entra tokens, nil for none. The gateway and moat doctor both
// build them here, so doctor checks what calls present.
func (u *Upstream) Authenticator() (upstream.Authenticator, error) {
	return upstream.NewAuth(u.Type, upstream.AuthOptions{Key: u.APIKey.Value(), Mode: u.Auth,
		Entra: upstream.EntraOptions{TenantID: u.TenantID, ClientID: u.ClientID, ClientSecret: u.ClientSecret.Value(), Scope: u.Scope}})
}

// validateDial checks the endpoint's name and connect_address: a
// privatelink name is refused with the reason, and connect_address must be
// an IP and a port, since its whole point is not to depend on DNS.
func (u *Upstream) validateDial() []error {
	var errs []error
	if raw := u.URL(); raw != "" {
		if p, err := url.Parse(raw); err == nil && PrivateLinkZone(p.Hostname()) {
			errs = append(errs, fmt.Errorf("endpoint host %s is a privatelink name: the service's certificate "+
				"is issued for the public name, so TLS would fail with a hostname mismatch; use %s "+
				"(and connect_address to reach the private endpoint's IP if moat's DNS does not resolve it there)",
				p.Hostname(), PublicName(p.Hostname())))
		}
	}
	if u.ConnectAddress == "" {
		return errs
	}
	if u.Type == upstream.TypeSimulator {
		errs = append(errs, fmt.Errorf("connect_address does not apply to the simulator"))
		return errs
	}
	host, port, err := net.SplitHostPort(u.ConnectAddress)
	if err != nil {
		return append(errs, fmt.Errorf("connect_address %q must be IP:port: %v", u.ConnectAddress, err))
	}
	if a, err := netip.ParseAddr(host); err != nil || a.Zone() != "" {
		errs = append(errs, fmt.Errorf("connect_address %q: %q is not an IP address (a name would need DNS, which connect_address exists to bypass)", u.ConnectAddress, host))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		errs = append(errs, fmt.Errorf("connect_address %q: port %q is not 1-65535", u.ConnectAddress, port))
	}
	return errs
}
