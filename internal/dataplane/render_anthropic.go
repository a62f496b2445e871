package dataplane

import (
	"encoding/json"
	"net/http"

	"github.com/moat-gw/moat/internal/anthropic"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// render writes e in the shape of the client API the call arrived on: the
// stages build Azure's bodies, and the Anthropic surface gets Anthropic's.
func render(api openai.API, e *httpx.Error) *httpx.Error {
	if api == openai.APIAnthropic && e != nil && e.Body != nil {
		return renderAnthropic(e)
	}
	return e
}

// renderAnthropic is the Anthropic surface's error renderer: Anthropic's
// envelope {"type":"error","error":{"type","message"}}, the error type the
// Messages API uses for the status, and the message the stage wrote. A
// refused permission (RBAC, key scope), which Azure answers 401, is 403
// permission_error, as Anthropic answers it. Headers (retry-after, policy
// IDs) are kept.
func renderAnthropic(e *httpx.Error) *httpx.Error {
	out := *e
	if out.Kind == httpx.KindPolicyForbidden {
		out.Status = http.StatusForbidden
	}
	msg := errorMessage(e.Body)
	if msg == "" {
		msg = http.StatusText(out.Status)
	}
	out.Body = anthropic.ErrorBody(anthropic.ErrorType(out.Status), msg)
	return &out
}

// errorMessage reads the message of the Azure and OpenAI error bodies moat
// writes: {"error":{"message"}} or {"statusCode","message"}.
func errorMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
		Error   struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	if e.Error.Message != "" {
		return e.Error.Message
	}
	return e.Message
}
