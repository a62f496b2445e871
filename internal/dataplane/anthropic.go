package dataplane

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// The Anthropic Messages surface. Clients call it as Azure AI Foundry
// serves Claude, POST /anthropic/v1/messages and
// /anthropic/v1/messages/count_tokens, so the Anthropic SDKs work with
// baseURL {moat}/anthropic. The deployment is the body's "model". The call
// goes through the same stages as every other: network rules, keys and
// tokens, RBAC (the operations' data actions), token limits and the
// request log. Errors are written in Anthropic's shape
// (render_anthropic.go). moat does not translate: an Anthropic deployment
// is refused on the OpenAI surfaces and an OpenAI one here.

// anthropicPrefix is the path prefix of the Anthropic surface.
const anthropicPrefix = "/anthropic/v1/"

// apiOf is the client API a path belongs to, known before authentication
// so that even a refused call is answered in its client's shape.
func apiOf(path string) openai.API {
	if strings.HasPrefix(path, "/anthropic/") {
		return openai.APIAnthropic
	}
	return openai.APIOpenAI
}

// routeAnthropic routes the Anthropic surface.
func routeAnthropic(method, rest string) (Call, error) {
	op, ok := openai.LookupAPIOperation(openai.APIAnthropic, rest)
	if !ok || method != http.MethodPost {
		return Call{}, errNotFound("unknown operation " + rest)
	}
	return Call{Surface: SurfaceAnthropic, Operation: op, PathTemplate: anthropicPrefix + op.Suffix}, nil
}

// anthropicCredentials reads the Anthropic SDK's x-api-key as the api-key
// header that authentication reads, so keys work the same on every
// surface. An api-key or Authorization header, when present, is read as
// elsewhere.
func anthropicCredentials(r *http.Request) {
	if v := r.Header.Values("X-Api-Key"); len(v) > 0 && len(r.Header.Values("Api-Key")) == 0 {
		r.Header["Api-Key"] = v
	}
	r.Header.Del("X-Api-Key")
}

// checkServes refuses a call whose deployment is served by an upstream
// that does not speak the call's API: moat does not translate between the
// OpenAI and Anthropic APIs. Every member must serve it, since failover may
// send the call to any of them.
func checkServes(dep *deployment, op openai.Operation) error {
	for _, m := range dep.members {
		if m.target.Serves(op) {
			continue
		}
		var msg string
		if op.Family() == openai.APIAnthropic {
			msg = fmt.Sprintf("Deployment '%s' is not served through the Anthropic Messages API: call it on the Azure OpenAI or OpenAI paths. moat does not translate between APIs.", dep.name)
		} else {
			msg = fmt.Sprintf("The %s operation does not work with deployment '%s': it serves the Anthropic Messages API only, at /anthropic/v1/messages. moat does not translate between APIs.", op.Name, dep.name)
		}
		return httpx.FrontDoor(http.StatusBadRequest, httpx.KindClientBadRequest, "OperationNotSupported", msg,
			errString("operation not served by the deployment's upstream"))
	}
	return nil
}
