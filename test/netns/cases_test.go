package netns_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Azure's network denials, byte for byte (wire reference §2.6), written out
// here rather than taken from moat's code so that the tests pin the wire.
const (
	bodyPublicDisabled = `{"error":{"code":"403","message": "Public access is disabled. Please configure private endpoint."}}`
	bodyFirewall       = `{"error":{"code":"403","message": "Access denied due to Virtual Network/Firewall rules."}}`
	policyIDDenied     = "ThrowExceptionDueToTrafficDenied"

	chatPath = "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
	// apiKey is the one key moat accepts, so denied calls with it show that
	// the network stage runs before authentication.
	apiKey = "netns-test-key-0123456789abcdef0123"
)

// modes are the public network access modes, in the order of matrixCase.want.
func modes() [3]string { return [3]string{"enabled", "selected", "disabled"} }

// outcome is what a client must see.
type outcome int

const (
	skip           outcome = iota // not checked in this mode
	completion                    // 200 with a chat completion
	deniedDisabled                // 403 "Public access is disabled…"
	deniedFirewall                // 403 "Access denied due to Virtual Network/Firewall rules."
	// deniedNSG is a listener's allowed_sources refusing the caller: the
	// same 403 as the firewall, decided by another layer.
	deniedNSG
	passes  // past the network stage: any answer but a network 403
	dropped // the connection closes with no HTTP answer
	refused // nothing listens there
	metrics // 200 with Prometheus text
)

func (o outcome) String() string {
	return [...]string{"skip", "completion", "403 public access disabled", "403 firewall", "NSG denial",
		"past the network stage", "connection dropped", "connection refused", "metrics"}[o]
}

// client is who calls, and from which namespace.
type client int

const (
	fromVNet          client = iota // vnet .10, inside the virtual network rule
	fromInternet                    // internet .10, in ip_rules
	fromInternetOther               // internet .11 on the proxy's front, in no rule
	fromRogue                       // an untrusted host in no rule that forges headers
)

// route is how the call reaches moat.
type route int

const (
	toPE                        route = iota // the private endpoint listener
	toPublic                                 // the public listener
	toBalancerPort                           // the PROXY protocol listener, directly
	viaReverseProxy                          // the trusted reverse proxy (X-Forwarded-For) to the public listener
	viaBalancer                              // the trusted balancer (PROXY v2) to the PROXY protocol listener
	toManagement                             // the management listener on the private endpoint address
	toManagementOnPublicAddress              // the management port on the public address
	toWildcard                               // a public listener bound to [::] (dual stack: IPv4 arrives IPv4-mapped)
)

// matrixCase is one caller and path, with what it must get in each mode.
type matrixCase struct {
	name  string
	from  client
	route route
	// path defaults to chatPath (POST with an api-key); others are GETs.
	path  string
	noKey bool
	// header is what the client itself sends.
	header func(f family) http.Header
	// forgeProxyV2 prefixes the connection with a PROXY v2 header that
	// claims the allowed internet client.
	forgeProxyV2 bool
	want         [3]outcome // enabled, selected, disabled
}

func xff(n, h int) func(f family) http.Header {
	return func(f family) http.Header { return http.Header{"X-Forwarded-For": {f.ip(n, h)}} }
}

func forwardedFor(n, h int) func(f family) http.Header {
	return func(f family) http.Header {
		v := f.ip(n, h)
		if f.v6 {
			v = `"[` + v + `]"`
		}
		return http.Header{"Forwarded": {"for=" + v}}
	}
}

// matrix is every network-policy scenario. Management cases do not depend
// on the mode, so they run once.
func matrix() []matrixCase {
	C, Dis, FW, NSG, P := completion, deniedDisabled, deniedFirewall, deniedNSG, passes
	return []matrixCase{
		{name: "vnet client to private endpoint", from: fromVNet, route: toPE, want: [3]outcome{C, C, C}},
		{name: "vnet client to public listener (virtual network rule)", from: fromVNet, route: toPublic, want: [3]outcome{C, C, Dis}},
		{name: "internet client to public listener (ip rule)", from: fromInternet, route: toPublic, want: [3]outcome{C, C, Dis}},
		{name: "internet client to private endpoint address (allowed_sources)", from: fromInternet, route: toPE, want: [3]outcome{NSG, NSG, NSG}},
		{name: "internet client via trusted reverse proxy", from: fromInternet, route: viaReverseProxy, want: [3]outcome{C, C, Dis}},
		{name: "other internet client via trusted reverse proxy forging X-Forwarded-For", from: fromInternetOther, route: viaReverseProxy,
			header: xff(subnetFront, 10), want: [3]outcome{C, FW, Dis}},
		{name: "internet client via trusted balancer (PROXY v2)", from: fromInternet, route: viaBalancer, want: [3]outcome{C, C, Dis}},
		{name: "other internet client via trusted balancer (PROXY v2)", from: fromInternetOther, route: viaBalancer, want: [3]outcome{C, FW, Dis}},
		// The proxy appends to X-Forwarded-For only, so Forwarded arrives as
		// the client wrote it; two headers that disagree name no one.
		{name: "allowed client via trusted reverse proxy sending a Forwarded that disagrees", from: fromInternet, route: viaReverseProxy,
			header: forwardedFor(subnetVNet, 10), want: [3]outcome{C, FW, Dis}},
		{name: "internet client to dual-stack wildcard listener (ip rule)", from: fromInternet, route: toWildcard, want: [3]outcome{C, C, Dis}},
		{name: "vnet client to dual-stack wildcard listener (virtual network rule)", from: fromVNet, route: toWildcard, want: [3]outcome{C, C, Dis}},
		{name: "untrusted host to dual-stack wildcard listener", from: fromRogue, route: toWildcard, want: [3]outcome{C, FW, Dis}},
		{name: "untrusted host forging X-Forwarded-For", from: fromRogue, route: toPublic, header: xff(subnetPublic, 10), want: [3]outcome{C, FW, Dis}},
		{name: "untrusted host forging Forwarded", from: fromRogue, route: toPublic, header: forwardedFor(subnetVNet, 10), want: [3]outcome{C, FW, Dis}},
		{name: "untrusted host forging X-Forwarded-For to private endpoint", from: fromRogue, route: toPE, header: xff(subnetVNet, 10), want: [3]outcome{NSG, NSG, NSG}},
		{name: "untrusted host forging a PROXY v2 header", from: fromRogue, route: toBalancerPort, forgeProxyV2: true, want: [3]outcome{dropped, dropped, dropped}},
		{name: "untrusted host on the PROXY listener without a header", from: fromRogue, route: toBalancerPort, want: [3]outcome{dropped, dropped, dropped}},
		{name: "allowed client's own X-Forwarded-For changes nothing", from: fromInternet, route: toPublic, header: xff(subnetRogue, 10), want: [3]outcome{C, C, Dis}},
		{name: "denied caller learns nothing of keys or deployments", from: fromRogue, route: toPublic, noKey: true,
			path: "/openai/deployments/no-such-deployment/chat/completions?api-version=2024-10-21", want: [3]outcome{P, FW, Dis}},
		{name: "internet client probing health on the public listener", from: fromInternet, route: toPublic, path: "/healthz", want: [3]outcome{P, P, Dis}},
		{name: "untrusted host probing health on the public listener", from: fromRogue, route: toPublic, path: "/healthz", want: [3]outcome{P, FW, Dis}},
		{name: "internet client asking the public listener for metrics", from: fromInternet, route: toPublic, path: "/metrics", want: [3]outcome{P, P, Dis}},
		{name: "vnet client to management metrics", from: fromVNet, route: toManagement, path: "/metrics", want: [3]outcome{skip, skip, metrics}},
		{name: "internet client to management metrics on the private address", from: fromInternet, route: toManagement, path: "/metrics", want: [3]outcome{skip, skip, NSG}},
		{name: "internet client to management health on the private address", from: fromInternet, route: toManagement, path: "/healthz", want: [3]outcome{skip, skip, NSG}},
		{name: "internet client to management port on the public address", from: fromInternet, route: toManagementOnPublicAddress, path: "/metrics", want: [3]outcome{skip, skip, refused}},
	}
}

// clientIP is the caller's own address for the route it takes.
func (c matrixCase) clientIP(f family) string {
	switch c.from {
	case fromVNet:
		return f.ip(subnetVNet, 10)
	case fromInternetOther:
		return f.ip(subnetFront, 11)
	case fromRogue:
		return f.ip(subnetRogue, 10)
	}
	if c.route == viaReverseProxy || c.route == viaBalancer {
		return f.ip(subnetFront, 10)
	}
	return f.ip(subnetPublic, 10)
}

func (c matrixCase) namespace(tp *topology) string {
	switch c.from {
	case fromVNet:
		return tp.vnet
	case fromRogue:
		return tp.rogue
	}
	return tp.inet
}

// listener is the moat listener the call ends on, named as in renderConfig.
func (c matrixCase) listener(f family) string {
	switch c.route {
	case toPE:
		return "pe-" + f.name
	case toBalancerPort, viaBalancer:
		return "balancer-" + f.name
	case toManagement:
		return "mgmt-" + f.name
	case toWildcard:
		return "public-any"
	}
	return "public-" + f.name
}

// request builds the client's call.
func (c matrixCase) request(f family) request {
	dst := map[route]string{
		toPE:                        f.hostPort(subnetVNet, hostGWPE, portPE),
		toPublic:                    f.hostPort(subnetPublic, hostGW, portPub),
		toBalancerPort:              f.hostPort(subnetBack, hostGW, portPP),
		viaReverseProxy:             f.hostPort(subnetFront, 1, portL7),
		viaBalancer:                 f.hostPort(subnetFront, 1, portL4),
		toManagement:                f.hostPort(subnetVNet, hostGWPE, portMgmt),
		toManagementOnPublicAddress: f.hostPort(subnetPublic, hostGW, portMgmt),
		toWildcard:                  f.hostPort(subnetPublic, hostGW, portAny),
	}[c.route]
	r := request{Method: http.MethodGet, URL: "http://" + dst + c.path, Header: http.Header{}}
	if c.path == "" || strings.Contains(c.path, "/chat/completions") {
		r.Method = http.MethodPost
		if c.path == "" {
			r.URL += chatPath
		}
		r.Header.Set("Content-Type", "application/json")
		r.Body = `{"messages":[{"role":"user","content":"Say hi"}],"max_tokens":2}`
		if !c.noKey {
			r.Header.Set("Api-Key", apiKey)
		}
	}
	if c.header != nil {
		for k, vs := range c.header(f) {
			r.Header[k] = vs
		}
	}
	if c.from == fromInternetOther || c.route == viaReverseProxy || c.route == viaBalancer {
		r.LocalIP = c.clientIP(f)
	}
	if c.forgeProxyV2 {
		src := netip.AddrPortFrom(netip.MustParseAddr(f.ip(subnetPublic, 10)), 40000)
		dstAP := netip.MustParseAddrPort(f.hostPort(subnetBack, hostGW, portPP))
		r.Preamble = proxyV2Header(src, dstAP)
	}
	return r
}

// azureSurface says the case calls an Azure OpenAI path, where denials must
// carry Azure's headers too (moat's own probes and management plane answer
// the same bodies without them).
func (c matrixCase) azureSurface() bool { return c.path == "" || strings.HasPrefix(c.path, "/openai/") }

// check compares a response with the outcome the case wants.
func (c matrixCase) check(got response, want outcome) error {
	if want != metrics && strings.Contains(got.Body, "# HELP") {
		return fmt.Errorf("metrics leaked: status %d", got.Status)
	}
	switch want {
	case completion:
		if got.Err != "" || got.Status != http.StatusOK || !strings.Contains(got.Body, `"choices"`) {
			return fmt.Errorf("want a completion, got %s", describe(got))
		}
		if v := got.Header.Get("Policy-Id"); v != "" {
			return fmt.Errorf("completion carries policy-id %q", v)
		}
	case deniedDisabled:
		return checkDenial(got, bodyPublicDisabled, c.azureSurface())
	case deniedFirewall, deniedNSG:
		return checkDenial(got, bodyFirewall, c.azureSurface())
	case passes:
		if got.Err != "" || (got.Status == http.StatusForbidden && got.Header.Get("Policy-Id") != "") {
			return fmt.Errorf("want an answer past the network stage, got %s", describe(got))
		}
	case dropped:
		if got.Err == "" || got.Refused {
			return fmt.Errorf("want the connection dropped, got %s", describe(got))
		}
	case refused:
		if !got.Refused {
			return fmt.Errorf("want connection refused, got %s", describe(got))
		}
	case metrics:
		if got.Err != "" || got.Status != http.StatusOK || !strings.Contains(got.Body, "# HELP") {
			return fmt.Errorf("want metrics, got %s", describe(got))
		}
	}
	return nil
}

func checkDenial(got response, body string, azure bool) error {
	if got.Err != "" || got.Status != http.StatusForbidden || got.Body != body ||
		got.Header.Get("Policy-Id") != policyIDDenied || got.Header.Get("Content-Type") != "application/json" {
		return fmt.Errorf("want 403 %s with policy-id %s, got %s", body, policyIDDenied, describe(got))
	}
	if !azure {
		return nil
	}
	// The other headers Azure sends on these (wire reference §2.6).
	for _, h := range []string{"Apim-Request-Id", "Strict-Transport-Security"} {
		if got.Header.Get(h) == "" {
			return fmt.Errorf("403 without %s: %v", h, got.Header)
		}
	}
	if v := got.Header.Get("X-Content-Type-Options"); v != "nosniff" {
		return fmt.Errorf("403 with x-content-type-options %q, want nosniff", v)
	}
	return nil
}

func describe(r response) string {
	if r.Err != "" {
		return fmt.Sprintf("error %q (refused %v)", r.Err, r.Refused)
	}
	body := r.Body
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return fmt.Sprintf("%d policy-id=%q body %q", r.Status, r.Header.Get("Policy-Id"), body)
}
