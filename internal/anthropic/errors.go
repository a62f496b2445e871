// Package anthropic holds the wire shapes of the Anthropic Messages API that
// moat writes itself: its error envelope. Like internal/openai it is a leaf
// and imports nothing of moat's.
package anthropic

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// Error types, as the Messages API names them.
const (
	TypeInvalidRequest  = "invalid_request_error"
	TypeAuthentication  = "authentication_error"
	TypePermission      = "permission_error"
	TypeNotFound        = "not_found_error"
	TypeRequestTooLarge = "request_too_large"
	TypeRateLimit       = "rate_limit_error"
	TypeAPI             = "api_error"
	TypeOverloaded      = "overloaded_error"
)

// ErrorType is the error type the Messages API uses for status.
func ErrorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return TypeAuthentication
	case status == http.StatusForbidden:
		return TypePermission
	case status == http.StatusNotFound:
		return TypeNotFound
	case status == http.StatusRequestEntityTooLarge:
		return TypeRequestTooLarge
	case status == http.StatusTooManyRequests:
		return TypeRateLimit
	case status == http.StatusServiceUnavailable || status == 529:
		return TypeOverloaded
	case status >= 500:
		return TypeAPI
	default:
		return TypeInvalidRequest
	}
}

// ErrorBody renders {"type":"error","error":{"type":…,"message":…}}.
func ErrorBody(errType, message string) []byte {
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	e.Type, e.Error.Type, e.Error.Message = "error", errType, message
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(e)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
