package doctor

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/upstream"
)

// WhoamiPath is where moat answers how it sees a caller (dataplane.WhoamiPath;
// doctor does not import the gateway).
const WhoamiPath = "/openai/_moat/whoami"

// ClientOptions describe a run from a client's subnet against moat.
type ClientOptions struct {
	// URL is moat's endpoint as clients call it: https://contoso-aoai.openai.azure.com.
	URL string
	// APIKey or Token is the client's credential (optional).
	APIKey, Token string
	// Deployment, when set, is checked for the credential's right to call it.
	Deployment string
	// CAFile is the CA bundle the clients trust moat's certificate with
	// (added to the system roots).
	CAFile string
	// Resolver is the clients' DNS; nil is the system's.
	Resolver *Resolver
	// Dialer dials moat; nil is a plain dialer. Tests set LocalAddr to
	// stand in for a client address.
	Dialer  *net.Dialer
	Timeout time.Duration
	Now     func() time.Time
}

// whoami is dataplane.Whoami as the wire carries it.
type whoami struct {
	Client       string `json:"client"`
	Listener     string `json:"listener"`
	ListenerKind string `json:"listener_kind"`
	AdmittedBy   string `json:"admitted_by"`
	Rule         string `json:"rule"`
	Subnet       string `json:"subnet"`
	Principal    string `json:"principal"`
	AuthType     string `json:"auth_type"`
	Deployment   *struct {
		Name    string          `json:"name"`
		Allowed bool            `json:"allowed"`
		Exists  bool            `json:"exists"`
		Status  int             `json:"status"`
		Error   json.RawMessage `json:"error"`
	} `json:"deployment"`
}

// Client checks, from where it runs, what a client of moat meets: the DNS
// answer for moat's name, TCP, moat's certificate against the clients'
// trust, the network rule moat applies to this address and whether the
// credential may call the deployment.
func Client(ctx context.Context, o ClientOptions) *Report {
	r := &Report{}
	o.defaultsClient()
	add := func(c Check) { c.Subject = "client"; r.Add(c) }
	base, err := url.Parse(strings.TrimRight(o.URL, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		add(Check{Name: "url", Status: Fail, Detail: fmt.Sprintf("%q is not an http(s) URL", o.URL)})
		return r
	}
	host, port := base.Hostname(), portOf(base)
	dns, chain := clientDNS(ctx, host, o.Resolver)
	add(dns)
	if dns.Status == Fail {
		return r
	}
	var targets []netip.AddrPort
	for _, a := range chain.Addrs {
		targets = append(targets, netip.AddrPortFrom(a, port))
	}
	tcp, conn, reached := checkTCPWith(ctx, targets, o.Dialer)
	add(tcp)
	if conn == nil {
		return r
	}
	roots, err := upstream.RootPool(o.CAFile)
	if err != nil {
		conn.Close()
		add(Check{Name: "tls", Status: Fail, Detail: err.Error(), Code: "tls_ca_file"})
		return r
	}
	if base.Scheme == "https" {
		hctx, cancel := context.WithTimeout(ctx, o.Timeout)
		tc := checkTLS(hctx, conn, host, roots, o.Now())
		cancel()
		if tc.Code == "tls_untrusted" {
			tc.Fix = "install moat's issuing CA in the clients' trust store (or pass it with --ca-file to check)"
		}
		add(tc)
		if tc.Status == Fail {
			return r
		}
	} else {
		conn.Close()
	}
	tr := &http.Transport{Proxy: nil,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return o.Dialer.DialContext(ctx, network, reached.String())
		},
		TLSClientConfig: &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	for _, c := range askWhoami(ctx, base, tr, o) {
		add(c)
	}
	return r
}

func (o *ClientOptions) defaultsClient() {
	if o.Resolver == nil {
		o.Resolver = &Resolver{}
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{}
	}
	if o.Dialer.Timeout == 0 {
		o.Dialer.Timeout = o.Timeout
	}
}

// clientDNS: from a client subnet, moat's name should answer moat's
// private address; a public answer means the override is not served here.
func clientDNS(ctx context.Context, host string, res *Resolver) (Check, Chain) {
	c := Check{Name: "dns"}
	ch, err := res.Lookup(ctx, host)
	c.Detail = ch.String()
	if ch.Server != "" {
		c.Detail += " (resolver " + ch.Server + ")"
	}
	switch {
	case err != nil:
		c.Status, c.Code, c.Cause = Fail, "dns_error", err.Error()
	case ch.NXDomain || len(ch.Addrs) == 0:
		c.Status, c.Code = Fail, "dns_no_answer"
		c.Cause = "this subnet's resolver has no address for moat's name"
		c.Fix = "serve the records from `moat dns records` to this subnet (private zone link or conditional forwarder)"
	case allPrivate(ch.Addrs):
		c.Status, c.Code, c.Cause = OK, "private", "a private address, as moat's private endpoint listener should be"
	default:
		c.Status, c.Code = Warn, "public"
		c.Cause = "a public address: this subnet's resolver does not carry the override that leads the name to moat's private address, " +
			"so clients here reach whatever the public name points to"
		c.Fix = "link the private zone (or the dns records from `moat dns records`) to this subnet's resolver"
	}
	return c, ch
}

// checkTCPWith is checkTCP with the client's dialer.
func checkTCPWith(ctx context.Context, targets []netip.AddrPort, d *net.Dialer) (Check, net.Conn, netip.AddrPort) {
	return checkTCP(ctx, targets, Options{Timeout: d.Timeout, dialer: d})
}

// askWhoami calls moat's whoami endpoint and turns its answer, or Azure's
// refusal, into the network, credential and deployment checks.
func askWhoami(ctx context.Context, base *url.URL, tr *http.Transport, o ClientOptions) []Check {
	u := base.JoinPath(WhoamiPath)
	if o.Deployment != "" {
		u.RawQuery = url.Values{"deployment": {o.Deployment}}.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	switch {
	case o.Token != "":
		req.Header.Set("Authorization", "Bearer "+o.Token)
	case o.APIKey != "":
		req.Header.Set("Api-Key", o.APIKey)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return []Check{{Name: "network", Status: Fail, Code: "probe_error", Detail: "GET " + WhoamiPath + ": " + err.Error()}}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	network := Check{Name: "network"}
	cred := Check{Name: "credential"}
	switch d := Classify(resp.StatusCode, body, o.Deployment); {
	case resp.StatusCode == http.StatusForbidden && (d.Code == "public_access_disabled" || d.Code == "firewall"):
		network.Status, network.Code = Fail, d.Code
		network.Detail = fmt.Sprintf("moat answered 403: %s", msgOf(body))
		if d.Code == "public_access_disabled" {
			network.Cause = "this call arrived on one of moat's public listeners, and moat's public network access is disabled"
			network.Fix = "reach moat's private endpoint listener: the name must resolve to its address from this subnet"
		} else {
			network.Cause = "moat's network rules (the listener's allowed_sources, or ip_rules / virtual_network_rules in selected mode) do not include this client's address"
			network.Fix = "add this subnet to the listener's allowed_sources or to network.ip_rules / virtual_network_rules, or reach the private endpoint listener"
		}
		return []Check{network}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		network.Status = OK
		network.Detail = "moat's network rules admit this client (it answered with an authentication error, which comes after them)"
		cred.Detail = fmt.Sprintf("moat answered %d: %s", resp.StatusCode, msgOf(body))
		if o.APIKey == "" && o.Token == "" {
			cred.Status, cred.Cause = Skip, "no credential given: pass --api-key or --token to see how moat sees this client"
		} else {
			cred.Status, cred.Code, cred.Cause, cred.Fix = Fail, d.Code, d.Cause, d.Fix
		}
		return []Check{network, cred}
	case resp.StatusCode == http.StatusNotFound:
		network.Status, network.Code = Warn, "no_whoami"
		network.Detail = "moat answered 404 on " + WhoamiPath
		network.Cause = "this is not moat, or a moat too old to answer whoami; the network admitted the call"
		return []Check{network}
	case resp.StatusCode != http.StatusOK:
		network.Status, network.Code = Fail, "probe_error"
		network.Detail = fmt.Sprintf("moat answered %d: %s", resp.StatusCode, msgOf(body))
		return []Check{network}
	}
	var w whoami
	if err := json.Unmarshal(body, &w); err != nil {
		return []Check{{Name: "network", Status: Fail, Code: "probe_error", Detail: "unreadable whoami answer: " + err.Error()}}
	}
	rule := w.AdmittedBy
	if w.Rule != "" {
		rule += " " + w.Rule
	}
	if w.Subnet != "" {
		rule += " (subnet " + w.Subnet + ")"
	}
	network.Status = OK
	network.Detail = fmt.Sprintf("moat sees this client as %s on listener %s (%s), admitted by %s", w.Client, w.Listener, w.ListenerKind, rule)
	cred.Status = OK
	cred.Detail = fmt.Sprintf("accepted as %s (%s)", w.Principal, w.AuthType)
	if o.APIKey == "" && o.Token == "" {
		cred.Status, cred.Detail = Skip, "moat does not require authentication"
	}
	out := []Check{network, cred}
	if w.Deployment != nil {
		dc := Check{Name: "deployment " + w.Deployment.Name}
		switch {
		case w.Deployment.Allowed && w.Deployment.Exists:
			dc.Status, dc.Detail = OK, "the credential may call "+w.Deployment.Name
		case w.Deployment.Allowed:
			dc.Status, dc.Code = Fail, "deployment_not_found"
			dc.Detail = "the credential may call it, but moat has no deployment named " + w.Deployment.Name
		default:
			d := Classify(w.Deployment.Status, w.Deployment.Error, w.Deployment.Name)
			dc.Status, dc.Code, dc.Cause, dc.Fix = Fail, d.Code, d.Cause, d.Fix
			dc.Detail = fmt.Sprintf("a call would get %d: %s", w.Deployment.Status, msgOf(w.Deployment.Error))
			if d.Code == "missing_role" {
				dc.Fix = "assign a role that allows chat on this deployment (moat roles assign), or widen the key's deployments"
			}
		}
		out = append(out, dc)
	}
	return out
}

func msgOf(body []byte) string {
	_, m := errorText(body)
	return m
}
