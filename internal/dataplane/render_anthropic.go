package dataplane

import (
	"encoding/json"
	"net/http"

	"github.com/moat-gw/moat/internal/anthropic"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// anthropicErrors is the error renderer of the Anthropic Messages surface:
// Anthropic's envelope {"type":"error","error":{"type","message"}}, typed
// by the status as the Messages API types it, with the message the stage
// gave. Every Azure shape maps to the one envelope.
type anthropicErrors struct{}

var _ httpx.Renderer = anthropicErrors{}

// Body renders e in Anthropic's envelope.
func (anthropicErrors) Body(e *httpx.Error) []byte {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return anthropic.ErrorBody(anthropic.ErrorType(e.Status), msg)
}

// render adapts e to the client API the call came in on before it is
// written. On the Anthropic surface a refused permission (RBAC, key
// scope), which Azure answers 401, is 403 permission_error, as Anthropic
// answers it; and a body some stage rendered already in Azure's shape
// (a pool's 503) is re-rendered from its message.
func render(api openai.API, e *httpx.Error) *httpx.Error {
	if api != openai.APIAnthropic || e == nil {
		return e
	}
	out := *e
	if out.Kind == httpx.KindPolicyForbidden {
		out.Status = http.StatusForbidden
	}
	if out.Body != nil {
		if out.Message == "" {
			out.Message = bodyMessage(out.Body)
		}
		out.Body = nil
	}
	return &out
}

// bodyMessage reads the message of an Azure or OpenAI error body:
// {"error":{"message"}} or {"statusCode","message"}.
func bodyMessage(body []byte) string {
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
