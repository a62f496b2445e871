package admin

import (
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// RequestHeader is the header a state-changing management request carries
// when it has no credentials to show (development mode). A web page on
// another origin cannot send it without a CORS preflight, which moat never
// grants, so its presence proves the request did not come from a form or
// a simple cross-origin fetch.
const RequestHeader = "X-Moat-Request"

// GuardOptions configure Guard.
type GuardOptions struct {
	// AllowedHosts returns the extra host names the management plane
	// answers to (management.allowed_hosts), read per request so a reload
	// applies at once. Entries are names or "*.suffix" wildcards.
	AllowedHosts func() []string
	// ReadOnly reports requests that use an unsafe method but change
	// nothing (the KQL query API, which also accepts plain text); they skip
	// the content-type and header checks, never the Host check.
	ReadOnly func(r *http.Request) bool
}

// Guard protects the management plane from web pages: a Host allow-list
// against DNS rebinding (a page whose name resolves to 127.0.0.1 would
// otherwise be same-origin with moat), and for state-changing requests a
// JSON content type plus either credentials or RequestHeader, which no
// cross-origin page can send without a preflight (CSRF). This matters most
// in development mode, where calls need no credentials at all.
func Guard(o GuardOptions, next http.Handler) http.Handler {
	return httpx.Handler(openai.Errors{}, nil, func(w http.ResponseWriter, r *http.Request) error {
		if !hostAllowed(r.Host, o.AllowedHosts) {
			return httpx.FrontDoor(http.StatusForbidden, httpx.KindClientBadRequest,
				"403", "The Host header names a host this management plane does not answer to. Add the name to management.allowed_hosts, or use an IP address or localhost.",
				errHost)
		}
		if unsafeMethod(r.Method) && (o.ReadOnly == nil || !o.ReadOnly(r)) {
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				return httpx.FrontDoor(http.StatusUnsupportedMediaType, httpx.KindClientBadRequest,
					"UnsupportedMediaType", "State-changing management requests must have Content-Type: application/json.",
					errContentType)
			}
			if r.Header.Get(RequestHeader) == "" && r.Header.Get("api-key") == "" && r.Header.Get("Authorization") == "" {
				return httpx.FrontDoor(http.StatusForbidden, httpx.KindClientBadRequest,
					"403", "State-changing management requests need credentials (api-key or Authorization) or the header "+RequestHeader+": 1.",
					errNoRequestHeader)
			}
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

type guardError string

func (e guardError) Error() string { return string(e) }

const (
	errHost            guardError = "management request refused: Host not allowed"
	errContentType     guardError = "management request refused: state change without a JSON content type"
	errNoRequestHeader guardError = "management request refused: state change without credentials or " + RequestHeader
)

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// hostAllowed reports whether the Host header names this machine in a way
// a rebinding page cannot: an IP literal (a page is only same-origin with
// an IP if it was loaded from that IP, that is from moat itself), localhost
// and *.localhost (browsers resolve them to loopback themselves), or a
// configured name. An absent Host (HTTP/1.0) comes from no browser.
func hostAllowed(host string, allowed func() []string) bool {
	if host == "" {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if allowed == nil {
		return false
	}
	for _, a := range allowed() {
		a = strings.TrimSuffix(strings.ToLower(a), ".")
		if host == a || (strings.HasPrefix(a, "*.") && strings.HasSuffix(host, a[1:])) {
			return true
		}
	}
	return false
}
