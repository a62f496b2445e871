package dataplane

import (
	"net/http"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/openai"
)

// This file is what the studio (through package gateway) asks of a running
// pipeline besides calls themselves, which it sends through ServeHTTP.

// Anonymous reports that the pipeline accepts calls without credentials
// (auth.disabled).
func (p *Pipeline) Anonymous() bool { return p.id.authn == nil }

// Identify authenticates the credential on r as a call's would be (API
// key, bearer token or client certificate); nothing is logged. It returns
// nil, nil when the pipeline is anonymous.
func (p *Pipeline) Identify(r *http.Request) (*auth.Principal, error) {
	if p.id.authn == nil {
		return nil, nil
	}
	return p.id.authenticateRequest(r, true)
}

// DeploymentAccess says whether a principal may call a deployment.
type DeploymentAccess struct {
	Name, Model string
	// Allowed is whether its chat completions are allowed: the key's own
	// scope, then role assignments, checked as for a call.
	Allowed bool
}

// Access lists every deployment with whether pr (nil when anonymous) may
// call its chat completions, without making a call.
func (p *Pipeline) Access(pr *auth.Principal) []DeploymentAccess {
	chat, _ := openai.OperationByName("chat")
	out := make([]DeploymentAccess, 0, len(p.depNames))
	for _, name := range p.depNames {
		s := &scope{principal: pr, call: Call{Surface: SurfaceLegacy, Operation: chat, Deployment: name,
			PathTemplate: "/openai/deployments/{deployment-id}/chat/completions"}}
		out = append(out, DeploymentAccess{Name: name, Model: p.deployments[name].model, Allowed: p.authorize(s) == nil})
	}
	return out
}
