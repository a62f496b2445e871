// Package httpx holds the HTTP plumbing every stage shares: the one error
// type that splits what a client sees from what only the log sees, the
// error kinds, and the adapter from error-returning handlers to http.Handler.
//
// It is a leaf: it imports nothing of moat's.
package httpx

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind is the closed set of error kinds, prefixed by who is at fault. It is a
// request-log column and a metric label, so its values never carry data.
type Kind string

// Error kinds. Add new ones here only; dashboards and alerts key on them.
const (
	KindNone Kind = ""

	KindClientBadRequest Kind = "client_bad_request"
	KindClientNotFound   Kind = "client_not_found"
	KindClientTooLarge   Kind = "client_too_large"
	KindClientAuth       Kind = "client_auth"
	KindClientCanceled   Kind = "client_canceled"
	KindClientTimeout    Kind = "client_timeout"
	KindPolicyNetwork    Kind = "policy_network"
	KindPolicyForbidden  Kind = "policy_forbidden"
	KindPolicyRateLimit  Kind = "policy_rate_limit"
	KindPolicyQuota      Kind = "policy_quota"
	// KindPolicyContentFilter is a prompt refused by a guardrail (the
	// rule is in the request log's GuardrailHits).
	KindPolicyContentFilter Kind = "policy_content_filter"
	KindUpstreamError       Kind = "upstream_error"
	KindUpstreamRateLimit   Kind = "upstream_rate_limit"
	KindUpstreamTimeout     Kind = "upstream_timeout"
	KindUpstreamUnreachble  Kind = "upstream_unreachable"
	KindUpstreamAuth        Kind = "upstream_auth"
	KindGatewayInternal     Kind = "gateway_internal"
	// KindGatewayShutdown is a call cut because the shutdown grace period
	// ended before it finished.
	KindGatewayShutdown Kind = "gateway_shutdown"
)

// ErrShutdown is the cause of a request context canceled at the end of the
// shutdown grace period, so the call is logged as KindGatewayShutdown
// rather than as a client that went away.
var ErrShutdown = errors.New("gateway shutting down: grace period over")

// Kinds lists every kind, for tests and metric pre-registration.
func Kinds() []Kind {
	return []Kind{KindClientBadRequest, KindClientNotFound, KindClientTooLarge, KindClientAuth,
		KindClientCanceled, KindClientTimeout, KindPolicyNetwork, KindPolicyForbidden, KindPolicyRateLimit, KindPolicyQuota,
		KindPolicyContentFilter, KindUpstreamError, KindUpstreamRateLimit, KindUpstreamTimeout, KindUpstreamUnreachble,
		KindUpstreamAuth, KindGatewayInternal, KindGatewayShutdown}
}

// Error is an error with an HTTP answer. Body and Header are what the client
// receives; Err is the internal cause, logged but never sent.
type Error struct {
	Status int
	Kind   Kind
	// Body is the exact client body (Azure's envelope), already rendered.
	Body []byte
	// Header holds extra response headers (policy-id, retry-after, …).
	Header http.Header
	// Err is the internal cause for the log; it may name addresses or hosts.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s (%d): %v", e.Kind, e.Status, e.Err)
	}
	return fmt.Sprintf("%s (%d)", e.Kind, e.Status)
}

func (e *Error) Unwrap() error { return e.Err }

// New builds an Error. header may be nil.
func New(status int, kind Kind, body []byte, cause error) *Error {
	return &Error{Status: status, Kind: kind, Body: body, Err: cause}
}

// WithHeader returns e with header name set to value.
func (e *Error) WithHeader(name, value string) *Error {
	if e.Header == nil {
		e.Header = http.Header{}
	}
	e.Header.Set(name, value)
	return e
}

// As extracts an *Error from err. Errors of any other type become a 500
// gateway_internal with a generic body, so internals never leak.
func As(err error, fallbackBody []byte) *Error {
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	return &Error{Status: http.StatusInternalServerError, Kind: KindGatewayInternal, Body: fallbackBody, Err: err}
}

// Write sends e to the client as JSON.
func Write(w http.ResponseWriter, e *Error) {
	h := w.Header()
	for k, vs := range e.Header {
		h[k] = vs
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	_, _ = w.Write(e.Body)
}
