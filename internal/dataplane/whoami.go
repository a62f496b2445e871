package dataplane

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// WhoamiPath is the data-plane path that tells a caller how moat sees it,
// for `moat doctor --client` run from a client subnet.
//
// It sits behind the network and authentication stages like every call:
// a caller the network rules refuse gets Azure's 403 (which already says
// whether public access is disabled or a firewall rule refused it), and a
// caller without a valid credential gets Azure's 401. Only a caller that
// could make a call at all learns its address as moat sees it, the
// listener and the rule that admitted it, and, for ?deployment=D, whether
// its credential may call D (checked in the same order as a real call, so
// it reveals no more about which deployments exist than a call would).
const WhoamiPath = "/openai/_moat/whoami"

// Whoami is the answer on WhoamiPath.
type Whoami struct {
	Client       string `json:"client"`
	Listener     string `json:"listener"`
	ListenerKind string `json:"listener_kind"`
	// AdmittedBy is the network decision's reason (private_endpoint,
	// public_enabled, ip_rule, vnet_rule), with the rule's prefix or subnet.
	AdmittedBy string `json:"admitted_by"`
	Rule       string `json:"rule,omitempty"`
	Subnet     string `json:"subnet,omitempty"`
	// Principal is the authenticated caller (key name or token object ID).
	Principal  string            `json:"principal"`
	AuthType   string            `json:"auth_type"`
	Deployment *WhoamiDeployment `json:"deployment,omitempty"`
}

// WhoamiDeployment says whether the caller may call a deployment (chat).
type WhoamiDeployment struct {
	Name    string `json:"name"`
	Allowed bool   `json:"allowed"`
	Exists  bool   `json:"exists"`
	// Status and Error are the answer a chat call would get when refused.
	Status int             `json:"status,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
}

// whoami answers WhoamiPath for a caller the network and authentication
// stages admitted.
func (p *Pipeline) whoami(w http.ResponseWriter, r *http.Request, s *scope) error {
	l := p.listeners[s.listener]
	d := p.policy.Decide(l, s.clientIP)
	out := Whoami{Client: s.clientIP.String(), Listener: s.listener, ListenerKind: string(l.Kind),
		AdmittedBy: string(d.Reason), Subnet: d.Subnet, Principal: s.caller, AuthType: s.authType}
	if d.Rule >= 0 {
		out.Rule = d.Prefix.String()
	}
	if name := r.URL.Query().Get("deployment"); name != "" {
		chat, _ := openai.OperationByName("chat")
		s.call = Call{Surface: SurfaceLegacy, Operation: chat, Deployment: name,
			PathTemplate: "/openai/deployments/{deployment-id}/chat/completions"}
		wd := &WhoamiDeployment{Name: name}
		if err := p.authorize(s); err != nil {
			var he *httpx.Error
			if !errors.As(err, &he) {
				return err
			}
			wd.Status, wd.Error = he.Status, json.RawMessage(httpx.Render(p.renderer(s), he))
		} else {
			wd.Allowed = true
			wd.Exists = p.deployments[name] != nil
		}
		out.Deployment = wd
		s.call = Call{}
	}
	w.Header().Set("Content-Type", "application/json")
	s.status = http.StatusOK
	return json.NewEncoder(w).Encode(out)
}
