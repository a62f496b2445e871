package dataplane

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// Surface is the API family a request arrived on.
type Surface string

// Surfaces. The deployment comes from the path on the legacy surface and
// from the body's "model" on the others.
const (
	SurfaceLegacy Surface = "azure"    // /openai/deployments/{d}/…?api-version=
	SurfaceV1     Surface = "azure_v1" // /openai/v1/…
	SurfaceOpenAI Surface = "openai"   // /v1/…
	// SurfaceAnthropic is the Anthropic Messages API on Azure AI Foundry's
	// path shape: /anthropic/v1/messages (anthropic.go).
	SurfaceAnthropic Surface = "anthropic"
)

// Call is what routing learned from the method, path and query.
type Call struct {
	Surface   Surface
	Operation openai.Operation
	// Deployment is set from the path on the legacy surface.
	Deployment string
	// APIVersion is the client's api-version ("" on v1 without one).
	APIVersion string
	// PathTemplate is the Azure operation path with {deployment-id}, for RBAC
	// messages; empty for an operation of the table on a deployment, whose
	// template is rbac.OperationTemplate's (it is not built per call).
	PathTemplate string
	// List is set for listing endpoints answered by moat itself.
	List listKind
	// ModelID is the model asked for by a model retrieval (getModel*).
	ModelID string
	// Object is the ID of the stored object a call acts on (a response's
	// retrieve, delete, cancel, input_items); the deployment and pool
	// member come from its pin (objects.go).
	Object string
	// Collection is "responses", "files" or "batches" for calls on stored
	// objects, and for file uploads and batch creates (Object empty).
	Collection string
	// UpstreamPath and Query address the object upstream (upstream.Call).
	UpstreamPath string
	Query        url.Values
}

type listKind int

const (
	listNone listKind = iota
	listModelsAzure
	listModelsOpenAI
	listDeployments
	getDeployment
	getModelAzure  // GET /openai/models/{model}
	getModelOpenAI // GET /openai/v1/models/{id}, /v1/models/{id}
)

// errNotFound is Azure's answer to an unknown path or a missing or
// unsupported api-version on the legacy surface (§2.7).
func errNotFound(cause string) *httpx.Error {
	return httpx.FrontDoor(http.StatusNotFound, httpx.KindClientNotFound, "404", openai.MsgResourceNotFound, errString(cause))
}

type errString string

func (e errString) Error() string { return string(e) }

// parseRoute parses r into a Call. versions is the api-version allow-list.
func parseRoute(r *http.Request, versions map[string]bool) (Call, error) {
	p := r.URL.Path
	apiVersion := queryGet(r.URL.RawQuery, "api-version")
	switch {
	case strings.HasPrefix(p, "/openai/v1/"):
		return routeV1(r.Method, strings.TrimPrefix(p, "/openai/v1/"), apiVersion, SurfaceV1, r.URL.Query())
	case strings.HasPrefix(p, "/v1/"):
		return routeV1(r.Method, strings.TrimPrefix(p, "/v1/"), "", SurfaceOpenAI, r.URL.Query())
	case strings.HasPrefix(p, anthropicPrefix):
		return routeAnthropic(r.Method, strings.TrimPrefix(p, anthropicPrefix))
	case strings.HasPrefix(p, "/openai/"):
	default:
		return Call{}, errNotFound("unknown path")
	}
	if apiVersion == "" || !versions[apiVersion] {
		return Call{}, errNotFound("missing or unsupported api-version " + apiVersion)
	}
	rest := strings.TrimPrefix(p, "/openai/")
	c := Call{Surface: SurfaceLegacy, APIVersion: apiVersion}
	switch {
	case rest == "models" && r.Method == http.MethodGet:
		c.Operation, _ = openai.OperationByName("models")
		c.List = listModelsAzure
		c.PathTemplate = "/openai/models"
		return c, nil
	case strings.HasPrefix(rest, "models/") && len(rest) > len("models/") && r.Method == http.MethodGet:
		c.Operation, _ = openai.OperationByName("models")
		c.List, c.ModelID = getModelAzure, strings.TrimPrefix(rest, "models/")
		c.PathTemplate = "/openai/models/{model-id}"
		return c, nil
	case rest == "deployments" && r.Method == http.MethodGet:
		c.Operation, _ = openai.OperationByName("models")
		c.List = listDeployments
		c.PathTemplate = "/openai/deployments"
		return c, nil
	case rest == "responses" && r.Method == http.MethodPost:
		c.Operation, _ = openai.OperationByName("responses")
		c.PathTemplate = "/openai/responses"
		return c, nil
	case strings.HasPrefix(rest, "responses/") || isObjectCollection(rest):
		return routeObject(c, r.Method, rest, "/openai/", r.URL.Query())
	case strings.HasPrefix(rest, "deployments/"):
	default:
		return Call{}, errNotFound("unknown path")
	}
	rest = strings.TrimPrefix(rest, "deployments/")
	dep, suffix, found := strings.Cut(rest, "/")
	if dep == "" {
		return Call{}, errNotFound("empty deployment")
	}
	c.Deployment = dep
	if !found && r.Method == http.MethodGet {
		c.Operation, _ = openai.OperationByName("models")
		c.List = getDeployment
		c.PathTemplate = "/openai/deployments/{deployment-id}"
		return c, nil
	}
	op, ok := openai.LookupOperation(suffix)
	if !ok || op.ResourceScoped || r.Method != op.Method {
		return Call{}, errNotFound("unknown operation " + suffix)
	}
	c.Operation = op
	return c, nil
}

// queryGet is url.ParseQuery(rawQuery).Get(key) (as r.URL.Query().Get
// reads it, ignoring malformed pairs) without building the whole map: a
// deployment call needs only its api-version.
func queryGet(rawQuery, key string) string {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil || k != key {
			continue
		}
		if v, err = url.QueryUnescape(v); err != nil {
			continue
		}
		return v
	}
	return ""
}

// routeV1 handles /openai/v1/… and /v1/…, where the deployment is the body's
// "model". A dated api-version on v1 is refused as Azure does (§1.4).
func routeV1(method, rest, apiVersion string, s Surface, q url.Values) (Call, error) {
	if apiVersion != "" && apiVersion != "v1" && apiVersion != "preview" && apiVersion != "latest" {
		return Call{}, httpx.FrontDoor(http.StatusBadRequest, httpx.KindClientBadRequest,
			"BadRequest", openai.MsgAPIVersionNotSupp, errString("dated api-version on v1"))
	}
	c := Call{Surface: s, APIVersion: apiVersion}
	prefix := "/openai/v1/"
	if s == SurfaceOpenAI {
		prefix = "/v1/"
	}
	if rest == "models" && method == http.MethodGet {
		c.Operation, _ = openai.OperationByName("models")
		c.List = listModelsOpenAI
		c.PathTemplate = prefix + "models"
		return c, nil
	}
	if id, ok := strings.CutPrefix(rest, "models/"); ok && id != "" && method == http.MethodGet {
		c.Operation, _ = openai.OperationByName("models")
		c.List, c.ModelID = getModelOpenAI, id
		c.PathTemplate = prefix + "models/{model}"
		return c, nil
	}
	if strings.HasPrefix(rest, "responses/") || isObjectCollection(rest) {
		return routeObject(c, method, rest, prefix, q)
	}
	op, ok := openai.LookupOperation(rest)
	if !ok || method != op.Method {
		return Call{}, errNotFound("unknown operation " + rest)
	}
	c.Operation = op
	c.PathTemplate = prefix + op.Suffix
	return c, nil
}
