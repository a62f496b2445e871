// Package upstream turns a configured model service into a Target that knows
// how to address one call and read its answer. What depends on the
// service's wire protocol (the URL for the operation, the body rewrite, the
// credentials' header, the rate-limit headers, where usage is in an answer
// and a stream, the provider's name) is a Protocol, one file per type:
// azure.go, openai.go (openai and openai_compatible), simulator.go and
// anthropic.go. The Target adds what all share: the connection pool, TLS
// trust, dialing and Entra tokens.
package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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

// Type is the kind of model service: config's upstream type. Its Protocol
// is found with Lookup.
type Type string

// Upstream types.
const (
	TypeAzure            Type = "azure"
	TypeOpenAI           Type = "openai"
	TypeOpenAICompatible Type = "openai_compatible"
	TypeSimulator        Type = "simulator"
	TypeAnthropic        Type = "anthropic"
)

// Protocol returns the type's protocol, or nil for an unknown type.
func (t Type) Protocol() Protocol {
	p, _ := Lookup(t)
	return p
}

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
	name      string
	proto     Protocol
	endpoint  Endpoint
	auth      Authenticator
	transport *http.Transport
}

// New validates opts and builds the Target with its own connection pool.
func New(opts Options) (*Target, error) {
	proto, ok := Lookup(opts.Type)
	if !ok {
		return nil, fmt.Errorf("upstream %s: unknown type %q", opts.Name, opts.Type)
	}
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
	return &Target{name: opts.Name, proto: proto, auth: opts.Auth, transport: tr,
		endpoint: Endpoint{Base: u, APIVersion: opts.APIVersion, StreamUsage: opts.StreamUsage}}, nil
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
func (t *Target) Type() Type { return t.proto.Type() }

// Protocol is the upstream's protocol.
func (t *Target) Protocol() Protocol { return t.proto }

// Provider is the service's gen_ai.provider.name.
func (t *Target) Provider() string { return t.proto.Provider() }

// Serves reports whether the upstream can answer op.
func (t *Target) Serves(op openai.Operation) bool { return t.proto.Serves(op) }

// Server is the host and port calls to t go to, for telemetry's
// server.address and server.port.
func (t *Target) Server() (string, int) {
	base := t.endpoint.Base
	port, err := strconv.Atoi(base.Port())
	if err != nil {
		port = 443
		if base.Scheme == "http" {
			port = 80
		}
	}
	return base.Hostname(), port
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
	// Stream is set when the client asked for a stream.
	Stream bool
	// ClientUsage is set when the client asked for the stream usage chunk
	// itself (stream_options.include_usage).
	ClientUsage bool
	// Path, when set, is the path below the API root for a call on a stored
	// object ("responses/resp_1/cancel", "files/file-1/content"); it is
	// served from the v1 surface on Azure. Its segments are escaped here.
	Path string
	// Query is the client's query to pass on with Path (list paging).
	Query url.Values
}

// Azure reports whether the target speaks Azure's deployment-scoped API.
func (t *Target) Azure() bool { return t.proto.Spec().Deployments }

// UpstreamAPIVersion is the api-version sent to an Azure-style target.
func (t *Target) UpstreamAPIVersion(c Call) string { return azureAPIVersion(t.endpoint, c) }

// URL builds the upstream URL for c.
func (t *Target) URL(c Call) *url.URL { return t.proto.URL(t.endpoint, c) }

// Body adapts the client's body for the target; injected reports that the
// target was asked for stream usage the client did not ask for.
func (t *Target) Body(c Call, body []byte) (out []byte, injected bool, err error) {
	return t.proto.Body(t.endpoint, c, body)
}

// ScrubHeader removes the upstream account's identifiers from an answer.
func (t *Target) ScrubHeader(h http.Header) { t.proto.ScrubHeader(h) }

// Limits reads what an answer's headers say about the upstream's limits.
func (t *Target) Limits(h http.Header) Limits { return t.proto.Limits(h) }

// AnswerUsage reads usage from the tail of a plain answer to op.
func (t *Target) AnswerUsage(op openai.Operation, tail []byte, whole bool) (openai.Usage, bool) {
	return t.proto.AnswerUsage(op, tail, whole)
}

// NewStream returns the reader of one streamed answer.
func (t *Target) NewStream(c Call, injected bool) Stream { return t.proto.NewStream(c, injected) }

// StreamText is the generated text of one kept stream event.
func (t *Target) StreamText(name, data []byte) string { return t.proto.StreamText(name, data) }

// clientCredentialHeaders are the headers a client may present moat's own
// credentials in; none of them ever reaches an upstream.
var clientCredentialHeaders = []string{"Api-Key", "Authorization", "X-Api-Key"}

// Authorize sets the protocol's headers and the upstream credentials on
// out, replacing any credentials the client sent.
func (t *Target) Authorize(ctx context.Context, out *http.Request, c Call) error {
	for _, h := range clientCredentialHeaders {
		out.Header.Del(h)
	}
	t.proto.Header(out.Header, c)
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
