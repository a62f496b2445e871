package dataplane

import (
	"net/http"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// renderer is the error renderer of the client API s came in on. Stages
// and policy packages return structured httpx.Errors; only the edge turns
// them into bytes. The Azure surfaces (dated and v1) and OpenAI /v1 answer
// in Azure's shapes, the Claude surface in Anthropic's
// (render_anthropic.go). s may be nil (no call yet).
func (p *Pipeline) renderer(s *scope) httpx.Renderer {
	if s != nil && s.api == openai.APIAnthropic {
		return anthropicErrors{}
	}
	return openai.Errors{}
}

// errDeploymentNotFound is Azure's 404 for a deployment the resource does
// not have (§2.8), on calls and on GET /openai/deployments/{id}.
func errDeploymentNotFound() *httpx.Error {
	return httpx.FrontDoor(http.StatusNotFound, httpx.KindClientNotFound,
		"DeploymentNotFound", openai.MsgDeploymentNotFound, errString("unknown deployment"))
}
