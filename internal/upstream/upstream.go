// Package upstream turns a configured model service into a Target that knows
// how to address one call: the URL for the operation, the credentials to
// present (api-key, Bearer key, or an Entra token from azidentity), and the
// body rewrite the service needs (OpenAI-style services want their own model
// name in "model").
package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/openai"
)

// Type is the kind of model service.
type Type string

// Upstream types.
const (
	TypeAzure            Type = "azure"
	TypeOpenAI           Type = "openai"
	TypeOpenAICompatible Type = "openai_compatible"
	TypeSimulator        Type = "simulator"
)

// Options configure a Target. The gateway fills them from config.
type Options struct {
	Name string
	Type Type
	// BaseURL is the Azure endpoint (azure, simulator) or the /v1 base URL.
	BaseURL string
	// Auth presents credentials; nil sends none.
	Auth Authenticator
	// APIVersion is used for Azure when the client sent no dated version.
	APIVersion string
	// StreamUsage enables stream_options.include_usage injection.
	StreamUsage bool
	// Timeout bounds the wait for response headers (first byte).
	Timeout time.Duration
	// ConnectTimeout bounds dialing; zero means 10s.
	ConnectTimeout time.Duration
	// CAFile is an extra PEM bundle for TLS.
	CAFile string
	// ConnectAddress, when set, is the IP:port every connection dials. The
	// base URL's host still names the server: it is the SNI, the Host header
	// and the name the certificate must carry.
	ConnectAddress string
}

// Target is one upstream, immutable after New and safe for concurrent use.
type Target struct {
	name        string
	typ         Type
	base        *url.URL
	auth        Authenticator
	apiVersion  string
	streamUsage bool
	transport   *http.Transport
}

// New validates opts and builds the Target with its own connection pool.
func New(opts Options) (*Target, error) {
	u, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("upstream %s: invalid base URL", opts.Name)
	}
	if u.Path == "" {
		u.Path = "/" // JoinPath keeps a relative path relative; the request line needs it absolute
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	tr := &http.Transport{
		Proxy:                 nil, // a closed network has no proxy to the internet; never read HTTP_PROXY
		DialContext:           Dial(opts.ConnectAddress, opts.ConnectTimeout),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   opts.ConnectTimeout,
		ResponseHeaderTimeout: opts.Timeout,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	if opts.CAFile != "" {
		pool, err := RootPool(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: %w", opts.Name, err)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	// ServerName stays the endpoint's host even when connect_address sends
	// the bytes elsewhere; net/http derives it from the URL, this says so.
	tr.TLSClientConfig.ServerName = u.Hostname()
	return &Target{name: opts.Name, typ: opts.Type, base: u, auth: opts.Auth,
		apiVersion: opts.APIVersion, streamUsage: opts.StreamUsage, transport: tr}, nil
}

// Dial returns the dial function of an upstream's transport: the standard
// dialer, or with connectAddress set, one that dials that address whatever
// host:port the request names. Doctor uses the same function, so it checks
// the path calls take.
func Dial(connectAddress string, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if connectAddress == "" {
		return d.DialContext
	}
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, connectAddress)
	}
}

// Name is the upstream's configured name.
func (t *Target) Name() string { return t.name }

// Type is the upstream's type.
func (t *Target) Type() Type { return t.typ }

// Server is the host and port calls to t go to, for telemetry's
// server.address and server.port.
func (t *Target) Server() (string, int) {
	port, err := strconv.Atoi(t.base.Port())
	if err != nil {
		port = 443
		if t.base.Scheme == "http" {
			port = 80
		}
	}
	return t.base.Hostname(), port
}

// Transport is the Target's connection pool.
func (t *Target) Transport() http.RoundTripper { return t.transport }

// Close releases idle connections.
func (t *Target) Close() { t.transport.CloseIdleConnections() }

// Call is one client call in upstream-neutral terms.
type Call struct {
	Operation openai.Operation
	// Deployment is the name on the upstream (Azure deployment or model).
	Deployment string
	// APIVersion is the client's dated api-version, or "" (v1, OpenAI paths).
	APIVersion string
	// Path, when set, is the path below the API root for a call on a stored
	// object ("responses/resp_1/cancel", "files/file-1/content"); it is
	// served from the v1 surface on Azure. Its segments are escaped here.
	Path string
	// Query is the client's query to pass on with Path (list paging).
	Query url.Values
}

// Azure reports whether the target speaks Azure's deployment-scoped API.
func (t *Target) Azure() bool { return t.typ == TypeAzure || t.typ == TypeSimulator }

// UpstreamAPIVersion is the api-version sent to an Azure-style target.
func (t *Target) UpstreamAPIVersion(c Call) string {
	if c.APIVersion != "" && c.APIVersion != "v1" && c.APIVersion != "preview" && c.APIVersion != "latest" {
		return c.APIVersion
	}
	return t.apiVersion
}

// InjectStreamUsage reports whether stream usage may be requested upstream.
func (t *Target) InjectStreamUsage(c Call) bool {
	if !t.streamUsage {
		return false
	}
	if t.Azure() && c.Operation.Name != "responses" {
		return openai.SupportsStreamUsage(t.UpstreamAPIVersion(c))
	}
	return c.Operation.Name == "chat" || c.Operation.Name == "completions"
}

// URL builds the upstream URL for c.
func (t *Target) URL(c Call) *url.URL {
	// JoinPath takes escaped segments, so the deployment is escaped once here.
	if c.Path != "" {
		segs := strings.Split(c.Path, "/")
		for i, sg := range segs {
			segs[i] = url.PathEscape(sg)
		}
		u := t.base.JoinPath(segs...)
		if t.Azure() {
			u = t.base.JoinPath(append([]string{"openai", "v1"}, segs...)...)
		}
		if len(c.Query) > 0 {
			u.RawQuery = c.Query.Encode()
		}
		return u
	}
	if t.Azure() {
		if c.Operation.Name == "responses" {
			return t.base.JoinPath("openai", "v1", "responses")
		}
		u := t.base.JoinPath("openai", "deployments", url.PathEscape(c.Deployment), c.Operation.Suffix)
		u.RawQuery = url.Values{"api-version": {t.UpstreamAPIVersion(c)}}.Encode()
		return u
	}
	return t.base.JoinPath(c.Operation.Suffix)
}

// RewriteBody adapts a JSON body for the target: OpenAI-style services and
// Azure's v1 responses endpoint route on "model", so it is set to the
// upstream name. Legacy Azure paths ignore "model" and get the body as is.
func (t *Target) RewriteBody(c Call, body []byte) ([]byte, error) {
	if c.Operation.Multipart || len(body) == 0 {
		return body, nil
	}
	if t.Azure() && c.Operation.Name != "responses" {
		return body, nil
	}
	// Only "model" changes: it is spliced into the body as it came, so
	// the rest is forwarded byte for byte, never decoded and re-encoded.
	m, _ := json.Marshal(c.Deployment)
	out, err := openai.SetMember(body, "model", m)
	if err != nil {
		return nil, fmt.Errorf("rewrite body: %w", err)
	}
	return out, nil
}

// Authorize sets the upstream credentials on out, replacing any the client sent.
func (t *Target) Authorize(ctx context.Context, out *http.Request) error {
	out.Header.Del("Api-Key")
	out.Header.Del("Authorization")
	if t.auth == nil {
		return nil
	}
	if err := t.auth.Authorize(ctx, out.Header); err != nil {
		return &AuthError{Upstream: t.name, Err: err}
	}
	return nil
}

// AuthError means moat could not obtain credentials for the upstream.
type AuthError struct {
	Upstream string
	Err      error
}

func (e *AuthError) Error() string {
	return "authenticate to upstream " + e.Upstream + ": " + e.Err.Error()
}
func (e *AuthError) Unwrap() error { return e.Err }

// IsAuthError reports whether err is an AuthError.
func IsAuthError(err error) bool {
	var ae *AuthError
	return errors.As(err, &ae)
}

// RootPool is the trust store for an upstream: the system roots plus the
// PEM bundle in caFile, if one is named. moat doctor checks certificates
// against the same pool the transport uses.
func RootPool(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read ca_file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
	}
	return pool, nil
}
