package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/upstream"
)

// checkUpstream runs the chain of checks for one upstream, in the order a
// call meets the problems: DNS, self-loop, TCP, TLS, credential, then one
// probe per deployment. A step that fails stops the chain, since every
// later step would fail for the same reason and bury the cause.
func checkUpstream(ctx context.Context, u config.Upstream, probes []Probe, self []Listener, o Options, r *Report) {
	subject := "upstream " + u.Name
	add := func(c Check) { c.Subject = subject; r.Add(c) }
	if u.Type == "simulator" {
		add(Check{Name: "reach", Status: Skip, Detail: "built-in simulator: nothing to reach"})
		return
	}
	base, err := url.Parse(u.URL())
	if err != nil || base.Host == "" {
		add(Check{Name: "endpoint", Status: Fail, Detail: fmt.Sprintf("%q is not a URL", u.URL())})
		return
	}
	host, port := base.Hostname(), portOf(base)

	dns, chain := checkDNS(ctx, host, u.ConnectAddress, o.Resolver)
	add(dns)
	if dns.Status == Fail {
		return
	}
	var targets []netip.AddrPort
	if u.ConnectAddress != "" {
		ap, err := netip.ParseAddrPort(u.ConnectAddress)
		if err != nil {
			add(Check{Name: "connect_address", Status: Fail, Detail: err.Error()})
			return
		}
		targets = []netip.AddrPort{ap}
	} else {
		for _, a := range chain.Addrs {
			targets = append(targets, netip.AddrPortFrom(a, port))
		}
	}

	loop := checkSelfLoop(host, targets, self)
	add(loop)
	if loop.Status == Fail {
		return
	}

	tcp, conn, reached := checkTCP(ctx, targets, o)
	add(tcp)
	if conn == nil {
		return
	}
	if base.Scheme == "https" {
		roots, err := upstream.RootPool(u.CAFile)
		if err != nil {
			conn.Close()
			add(Check{Name: "tls", Status: Fail, Detail: err.Error(), Code: "tls_ca_file"})
			return
		}
		hctx, cancel := context.WithTimeout(ctx, o.Timeout)
		tc := checkTLS(hctx, conn, host, roots, o.Now())
		cancel()
		add(tc)
		if tc.Status == Fail {
			return
		}
	} else {
		conn.Close()
	}

	// The probes go through the gateway's own upstream transport, pinned to
	// the address just checked, so they take the path calls take.
	auth, err := o.Credential(u)
	if err != nil {
		add(Check{Name: "credential", Status: Fail, Code: "credential_config", Detail: err.Error(),
			Cause: "the credential cannot be built from the configuration"})
		return
	}
	to := u.TargetOptions(auth)
	to.Timeout, to.ConnectTimeout, to.ConnectAddress, to.StreamUsage = o.Timeout, o.Timeout, reached.String(), false
	t, err := upstream.New(to)
	if err != nil {
		add(Check{Name: "credential", Status: Fail, Detail: err.Error()})
		return
	}
	defer t.Close()
	if chat, _ := openai.OperationByName("chat"); !t.Serves(chat) {
		// The credential and deployment probes are Azure OpenAI calls.
		add(Check{Name: "credential", Status: Skip,
			Detail: "the credential and deployment probes speak the OpenAI API; a " + string(u.Type) + " upstream gets the network checks only"})
		return
	}
	publicAnswer := u.ConnectAddress == "" && !reached.Addr().IsUnspecified() && !Private(reached.Addr())
	add(checkCredential(ctx, t, u, auth, o))
	for _, p := range probes {
		add(probeDeployment(ctx, t, p, reached, publicAnswer, o))
	}
}

// portOf is the port a URL names, or its scheme's default.
func portOf(u *url.URL) uint16 {
	if p, err := strconv.ParseUint(u.Port(), 10, 16); err == nil {
		return uint16(p)
	}
	if u.Scheme == "http" {
		return 80
	}
	return 443
}

// checkDNS resolves the endpoint's host and says what the answer means
// for a private endpoint.
func checkDNS(ctx context.Context, host, connectAddress string, res *Resolver) (Check, Chain) {
	c := Check{Name: "dns"}
	if _, err := netip.ParseAddr(host); err == nil {
		c.Status, c.Detail = Skip, host+" is an address"
		ch, _ := res.Lookup(ctx, host)
		return c, ch
	}
	ch, err := res.Lookup(ctx, host)
	c.Detail = ch.String()
	if ch.Server != "" {
		c.Detail += " (resolver " + ch.Server + ")"
	}
	if connectAddress != "" {
		c.Status = OK
		c.Cause = "not used to dial: connect_address " + connectAddress + " is; the name is kept for SNI, Host and the certificate"
		if err != nil {
			c.Detail += ": " + err.Error()
		}
		return c, ch
	}
	switch {
	case err != nil && strings.Contains(err.Error(), "CNAME loop"):
		c.Status, c.Code = Fail, "dns_loop"
		c.Detail += ": " + err.Error()
		c.Cause = "the name's CNAME chain loops, so it never reaches an address"
		c.Fix = "fix the CNAME records (often a privatelink zone whose record points back at the public name)"
	case err != nil:
		c.Status, c.Code = Fail, "dns_error"
		c.Detail += ": " + err.Error()
		c.Cause = "the resolver did not answer"
		c.Fix = "check that this host reaches its resolver (/etc/resolv.conf), or ask another with --dns"
	case ch.NXDomain || len(ch.Addrs) == 0:
		c.Status, c.Code = Fail, "dns_no_answer"
		c.Cause = "the name has no address for this host"
		if ch.ViaPrivateLink() {
			c.Cause = "the name CNAMEs into a privatelink zone that this resolver cannot answer"
			c.Fix = "link the privatelink zone to moat's VNet, or forward it to Azure DNS (168.63.129.16) or a DNS Private Resolver inbound endpoint"
		}
	case allPrivate(ch.Addrs):
		c.Status, c.Code = OK, "private"
		c.Cause = "a private address"
		if ch.ViaPrivateLink() {
			c.Cause = "a private address through the privatelink zone: the private endpoint"
		}
	case ch.ViaPrivateLink():
		c.Status, c.Code = Warn, "privatelink_public"
		c.Cause = "the resource has a private endpoint (its name CNAMEs into a privatelink zone) but this resolver answers with a public address, " +
			"so calls go to the public endpoint; they work only while the resource's public network access admits moat"
		c.Fix = "link the privatelink zone to moat's VNet (or forward it to Azure DNS), or set connect_address to the private endpoint's IP"
	default:
		c.Status, c.Code = OK, "public"
		c.Cause = "a public address: calls use the resource's public endpoint, which its public network access must admit (see the probes)"
	}
	return c, ch
}

func allPrivate(as []netip.Addr) bool {
	for _, a := range as {
		if !Private(a) {
			return false
		}
	}
	return len(as) > 0
}

// checkSelfLoop fails when an address moat would dial is one of moat's own
// listeners: the override that sends clients to moat also reached moat's
// host, and every call would be forwarded to moat itself.
func checkSelfLoop(host string, targets []netip.AddrPort, self []Listener) Check {
	c := Check{Name: "self-loop", Status: OK, Detail: "no address of " + host + " is one of moat's listeners"}
	for _, t := range targets {
		for _, l := range self {
			if l.Addr.Addr() == t.Addr().Unmap() && l.Addr.Port() == t.Port() {
				c.Status, c.Code = Fail, "self_loop"
				c.Detail = fmt.Sprintf("%s resolves to %s, moat's own listener %q", host, t, l.Name)
				c.Cause = "moat would forward every call to itself: the DNS override meant for clients also answers moat's host"
				c.Fix = "do not link the override zone to moat's VNet (or give moat a resolver without it), or set connect_address to the real private endpoint's IP"
				return c
			}
		}
	}
	return c
}

// checkTCP dials the targets in order and keeps the first connection that
// opens, for the TLS check. reached is the address it opened to.
func checkTCP(ctx context.Context, targets []netip.AddrPort, o Options) (Check, net.Conn, netip.AddrPort) {
	c := Check{Name: "tcp"}
	d := o.dialer
	if d == nil {
		d = &net.Dialer{Timeout: o.Timeout}
	}
	var fails []string
	var last error
	for _, t := range targets {
		conn, err := d.DialContext(ctx, "tcp", t.String())
		if err == nil {
			c.Status, c.Detail = OK, "connected to "+t.String()
			if len(fails) > 0 {
				c.Status = Warn
				c.Detail += "; failed first: " + strings.Join(fails, "; ")
			}
			return c, conn, t
		}
		last = err
		fails = append(fails, t.String()+": "+shortErr(err))
	}
	c.Status = Fail
	c.Detail = strings.Join(fails, "; ")
	var ne net.Error
	switch {
	case errors.Is(last, syscall.ECONNREFUSED):
		c.Code = "tcp_refused"
		c.Cause = "the address answered but nothing listens on that port: a wrong IP or port, or a stopped service"
	case errors.As(last, &ne) && ne.Timeout(), errors.Is(last, os.ErrDeadlineExceeded):
		c.Code = "tcp_timeout"
		c.Cause = "no answer: an NSG, firewall or route drops the packets"
	case errors.Is(last, syscall.ENETUNREACH), errors.Is(last, syscall.EHOSTUNREACH):
		c.Code = "tcp_unreachable"
		c.Cause = "no route to the address from this host"
	default:
		c.Code = "tcp_error"
		c.Cause = "the connection failed"
	}
	return c, nil, netip.AddrPort{}
}

func shortErr(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// checkCredential obtains a token (Entra modes) and has the upstream judge
// the credential with the cheapest call it has: listing models.
func checkCredential(ctx context.Context, t *upstream.Target, u config.Upstream, auth upstream.Authenticator, o Options) Check {
	c := Check{Name: "credential"}
	mode := u.Auth
	if mode == "" {
		mode = "api_key"
	}
	if ta, ok := auth.(*upstream.TokenAuth); ok {
		tctx, cancel := context.WithTimeout(ctx, o.Timeout)
		_, err := ta.Token(tctx)
		cancel()
		if err != nil {
			c.Status, c.Code = Fail, "no_token"
			c.Detail = mode + ": " + err.Error()
			c.Cause = "moat cannot obtain an Entra token with its " + strings.ReplaceAll(mode, "_", " ")
			c.Fix = "check client_id / tenant_id, that the identity is assigned to this host, and that the token endpoint is reachable"
			return c
		}
		c.Detail = mode + ": token obtained for " + u.Scope
	} else if auth == nil {
		c.Status, c.Detail = Skip, "no credential configured"
		return c
	}
	models := modelsURL(t, u)
	status, body, err := do(ctx, t, http.MethodGet, models.String(), nil, o)
	if err != nil {
		c.Status, c.Code, c.Detail = Fail, "probe_error", "GET "+models.Path+": "+err.Error()
		return c
	}
	d := Classify(status, body, "")
	c.Detail = strings.TrimPrefix(c.Detail+"; ", "; ") + fmt.Sprintf("GET %s answered %d", models.Path, status)
	switch d.Code {
	case "reached":
		c.Status = OK
		c.Cause = mode + " accepted"
	case "bad_api_key", "bad_token", "key_auth_disabled", "missing_role":
		c.Status, c.Code, c.Cause, c.Fix = d.Status, d.Code, d.Cause, d.Fix
	case "public_access_disabled", "firewall", "regional_endpoint":
		c.Status = Skip
		c.Cause = "the network refused the call before the credential was checked (see the deployment probes)"
	default:
		c.Status, c.Code, c.Cause, c.Fix = Warn, d.Code, d.Cause, d.Fix
	}
	return c
}

// modelsURL is what the credential probe calls: GET /openai/models on
// Azure (a data-plane read that any inference role allows and that costs
// nothing), GET {base_url}/models elsewhere.
func modelsURL(t *upstream.Target, u config.Upstream) *url.URL {
	base, _ := url.Parse(strings.TrimRight(u.URL(), "/"))
	if base.Path == "" {
		base.Path = "/" // JoinPath keeps a relative path relative
	}
	if !t.Azure() {
		return base.JoinPath("models")
	}
	m := base.JoinPath("openai", "models")
	m.RawQuery = url.Values{"api-version": {t.UpstreamAPIVersion(upstream.Call{})}}.Encode()
	return m
}

// probeDeployment calls the deployment's chat endpoint with an empty
// message list. Azure's front door checks network, credential, role and
// the deployment before the model rejects the body with 400, so the answer
// names the first gate that refuses and nothing is generated or billed.
func probeDeployment(ctx context.Context, t *upstream.Target, p Probe, reached netip.AddrPort, publicAnswer bool, o Options) Check {
	remote := p.Remote
	if remote == "" {
		remote = p.Deployment
	}
	c := Check{Name: "deployment " + p.Deployment}
	chat, _ := openai.OperationByName("chat")
	u := t.URL(upstream.Call{Operation: chat, Deployment: remote})
	body := []byte(`{"messages":[],"max_tokens":1}`)
	if !t.Azure() {
		body = []byte(fmt.Sprintf(`{"model":%q,"messages":[],"max_tokens":1}`, remote))
	}
	status, resp, err := do(ctx, t, http.MethodPost, u.String(), body, o)
	if err != nil {
		c.Status, c.Code, c.Detail = Fail, "probe_error", "POST "+u.Path+": "+err.Error()
		return c
	}
	d := Classify(status, resp, remote)
	c.Status, c.Code, c.Cause, c.Fix = d.Status, d.Code, d.Cause, d.Fix
	c.Detail = fmt.Sprintf("POST %s (empty messages) answered %d", u.Path, status)
	if _, msg := errorText(resp); status >= 300 && msg != "" {
		c.Detail += ": " + msg
	}
	if d.Code == "not_found" && !t.Azure() {
		c.Code = "model_not_found"
		c.Cause = fmt.Sprintf("the server does not serve model %s at this base_url", remote)
		c.Fix = "set the deployment's upstream name to a model the server lists at GET {base_url}/models, or fix base_url"
	}
	if d.Code == "public_access_disabled" && publicAnswer {
		c.Cause = fmt.Sprintf("DNS led moat to %s, a public address, while the resource's public network access is disabled: "+
			"the name must resolve to the private endpoint from moat's host", reached.Addr())
	}
	return c
}

// do sends one request through t and returns the status and a bounded body.
func do(ctx context.Context, t *upstream.Target, method, u string, body []byte, o Options) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := t.Authorize(ctx, req, upstream.Call{}); err != nil {
		return 0, nil, err
	}
	resp, err := t.Transport().RoundTrip(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, b, nil
}
