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
	"strconv"
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

// Error is an error with an HTTP answer. The fields from Shape to Param
// say what the client is told; a Renderer of the client API the call came
// in on turns them into bytes at the edge, so the stages and policy
// packages that fail never write a wire format. Err is the internal cause,
// logged but never sent.
type Error struct {
	Status int
	Kind   Kind
	// Shape is which of the client API's error envelopes the answer takes.
	Shape Shape
	// Code is the front door's error code ("401", "DeploymentNotFound") or
	// the model error's code ("model_not_found"); it may be empty.
	Code string
	// Message is the client-facing text. Empty on an internal error: the
	// renderer says its API's generic text.
	Message string
	// Type and Param are the model error's type and offending parameter.
	Type, Param string
	// Body, when set, is the exact client body, already rendered: bytes
	// relayed as they came, or a test double's. The renderer is skipped.
	Body []byte
	// Header holds extra response headers (policy-id, retry-after, …).
	Header http.Header
	// Err is the internal cause for the log; it may name addresses or hosts.
	Err error
}

// Shape is which error envelope an answer takes. The shapes are those of
// Azure OpenAI, the first client API moat serves; a Renderer for another
// client API maps each to its own envelope.
type Shape uint8

const (
	// ShapeNone has no body: the client has gone, nobody reads it.
	ShapeNone Shape = iota
	// ShapeFrontDoor is an answer of the service's front door, before any
	// model: Azure's {"error":{"code","message"}}.
	ShapeFrontDoor
	// ShapeStatus is the API-management layer's answer (token failures,
	// quota): Azure's {"statusCode","message"}.
	ShapeStatus
	// ShapeModel is the model's own validation answer: OpenAI's
	// {"error":{"message","type","param","code"}}.
	ShapeModel
)

// A Renderer turns Errors into one client API's error bodies. There is one
// per client API (openai.Errors for Azure OpenAI and OpenAI /v1); the edge
// picks the one of the surface a call came in on.
type Renderer interface {
	// Body is the client body for e, whose Body is nil.
	Body(e *Error) []byte
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s (%d): %v", e.Kind, e.Status, e.Err)
	}
	return fmt.Sprintf("%s (%d)", e.Kind, e.Status)
}

func (e *Error) Unwrap() error { return e.Err }

// New builds an Error whose client body is already rendered. header may be nil.
func New(status int, kind Kind, body []byte, cause error) *Error {
	return &Error{Status: status, Kind: kind, Body: body, Err: cause}
}

// FrontDoor builds a front-door error: Azure's {"error":{"code","message"}}.
func FrontDoor(status int, kind Kind, code, message string, cause error) *Error {
	return &Error{Status: status, Kind: kind, Shape: ShapeFrontDoor, Code: code, Message: message, Err: cause}
}

// StatusMessage builds an API-management error: Azure's
// {"statusCode","message"}, whose statusCode is status.
func StatusMessage(status int, kind Kind, message string, cause error) *Error {
	return &Error{Status: status, Kind: kind, Shape: ShapeStatus, Message: message, Err: cause}
}

// Model builds a model validation error: OpenAI's
// {"error":{"message","type","param","code"}}; empty strings are null.
func Model(status int, kind Kind, message, typ, param, code string, cause error) *Error {
	return &Error{Status: status, Kind: kind, Shape: ShapeModel, Message: message, Type: typ, Param: param, Code: code, Err: cause}
}

// Internal is the 500 for a failure the client need not understand; the
// renderer says its API's generic text and the cause stays in the log.
func Internal(status int, kind Kind, cause error) *Error {
	return &Error{Status: status, Kind: kind, Shape: ShapeFrontDoor, Code: strconv.Itoa(status), Err: cause}
}

// Gone is the answer to a client that has left (499): no body, only a log row.
func Gone(kind Kind, cause error) *Error {
	return &Error{Status: 499, Kind: kind, Err: cause}
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
// gateway_internal with fallbackBody, so internals never leak.
func As(err error, fallbackBody []byte) *Error {
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	return &Error{Status: http.StatusInternalServerError, Kind: KindGatewayInternal, Body: fallbackBody, Err: err}
}

// From extracts an *Error from err. Errors of any other type become an
// Internal 500 gateway_internal, so internals never leak.
func From(err error) *Error {
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	return Internal(http.StatusInternalServerError, KindGatewayInternal, err)
}

// Render is e's client body: its Body if set, else r's rendering of it.
func Render(r Renderer, e *Error) []byte {
	if e.Body != nil || r == nil {
		return e.Body
	}
	return r.Body(e)
}

// Write sends e to the client as JSON, its Body as it is: for errors made
// with New. A structured error (FrontDoor, Model, ...) has no Body until a
// renderer makes one, so it goes through WriteError or Handler.
func Write(w http.ResponseWriter, e *Error) {
	WriteError(w, nil, e)
}

// WriteError sends e to the client as JSON, rendered by r unless its Body
// is set already.
func WriteError(w http.ResponseWriter, r Renderer, e *Error) {
	body := Render(r, e)
	h := w.Header()
	for k, vs := range e.Header {
		h[k] = vs
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}
