package dataplane

import (
	"net/http"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// renderer is the error renderer of the client API s came in on. Stages
// and policy packages return structured httpx.Errors; only the edge turns
// them into bytes. Every surface moat serves today (Azure dated and v1,
// OpenAI /v1) answers in Azure's shapes; a client API with shapes of its
// own adds its renderer here. s may be nil (no call yet).
func (p *Pipeline) renderer(s *scope) httpx.Renderer {
	return openai.Errors{}
}

// errDeploymentNotFound is Azure's 404 for a deployment the resource does
// not have (§2.8), on calls and on GET /openai/deployments/{id}.
func errDeploymentNotFound() *httpx.Error {
	return httpx.FrontDoor(http.StatusNotFound, httpx.KindClientNotFound,
		"DeploymentNotFound", openai.MsgDeploymentNotFound, errString("unknown deployment"))
}
