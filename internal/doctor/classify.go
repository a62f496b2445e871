package doctor

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// Diagnosis is what an Azure answer means, in plain words.
type Diagnosis struct {
	Status Status
	Code   string
	Cause  string
	Fix    string
}

// azureError is either of Azure's envelopes: {"error":{"code","message"}}
// from the front door and the model, {"statusCode","message"} for Entra
// token failures, and the bare {"code","message"} seen for the regional
// endpoint 403.
type azureError struct {
	Error *struct {
		Code    any    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Code       any    `json:"code"`
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

// errorText returns the code and message of an Azure error body.
func errorText(body []byte) (code, msg string) {
	var e azureError
	if json.Unmarshal(body, &e) != nil {
		return "", strings.TrimSpace(string(body))
	}
	if e.Error != nil {
		return fmt.Sprint(nonNil(e.Error.Code)), e.Error.Message
	}
	return fmt.Sprint(nonNil(e.Code)), e.Message
}

func nonNil(v any) any {
	if v == nil {
		return ""
	}
	return v
}

var principalRE = regexp.MustCompile("principal `([^`]+)`")

// Classify explains the answer to a probe. Azure's front door answers
// network, key, token, role and deployment problems before the model sees
// the body, so the status and message say exactly which gate refused;
// reached means the call got past all of them (the probe's empty body is
// then refused by the model with 400, which costs nothing).
//
// The messages are Azure's (wire reference §2): 403 "Public access is
// disabled…", 403 "Access denied due to Virtual Network/Firewall rules.",
// 403 "A Virtual Network is configured for this resource…", 403
// AuthenticationTypeDisabled, 401 "…invalid subscription key…", 401
// PermissionDenied "The principal … lacks the required data action …"
// (Azure sends a missing role as 401, not 403; a 403 with the same code is
// read the same way), 401 "Unauthorized. Access token is missing…", 404
// DeploymentNotFound.
func Classify(status int, body []byte, deployment string) Diagnosis {
	code, msg := errorText(body)
	lower := strings.ToLower(msg)
	switch {
	case status < 300 || (status == http.StatusBadRequest && !strings.Contains(lower, "api version")):
		return Diagnosis{Status: OK, Code: "reached",
			Cause: fmt.Sprintf("network, credential, role and deployment %s all admit the call (answer %d)", deployment, status)}
	case strings.Contains(lower, "public access is disabled"):
		return Diagnosis{Fail, "public_access_disabled",
			"the resource's public network access is disabled, and this call reached its public endpoint instead of its private endpoint",
			"make the name resolve to the private endpoint from moat's host (link the privatelink.openai.azure.com zone to moat's VNet, or a conditional forwarder on-premises), or set connect_address to the private endpoint's IP"}
	case strings.Contains(lower, "virtual network/firewall"):
		return Diagnosis{Fail, "firewall",
			"the resource's firewall (Networking: selected networks) does not allow the address this call came from",
			"call through the private endpoint, or add moat's egress address to the resource's IP rules (or moat's subnet to its virtual network rules)"}
	case strings.Contains(lower, "virtual network is configured"):
		return Diagnosis{Fail, "regional_endpoint",
			"the resource has network rules, which only apply to its custom-subdomain endpoint, and this is a regional endpoint",
			"use https://<resource>.openai.azure.com as the endpoint"}
	case code == "AuthenticationTypeDisabled" || strings.Contains(lower, "key based authentication is disabled"):
		return Diagnosis{Fail, "key_auth_disabled",
			"the resource refuses API keys (disableLocalAuth)",
			"use auth: managed_identity, workload_identity or client_secret, with the Cognitive Services OpenAI User role"}
	case code == "PermissionDenied" || strings.Contains(lower, "lacks the required data action") || strings.Contains(lower, "does not have access to api/operation"):
		who := "the identity"
		if m := principalRE.FindStringSubmatch(msg); m != nil {
			who = "principal " + m[1]
		}
		return Diagnosis{Fail, "missing_role",
			who + " has a valid token but no role that allows this call on the resource",
			"assign the Cognitive Services OpenAI User role to " + who + " on the resource (assignments take up to 5 minutes to apply)"}
	case strings.Contains(lower, "invalid subscription key"):
		return Diagnosis{Fail, "bad_api_key",
			"the api-key was refused: it is wrong, was regenerated, or belongs to another resource",
			"copy key1 or key2 of this resource (Keys and Endpoint) into the upstream's api_key"}
	case strings.Contains(lower, "access token is missing, invalid"):
		return Diagnosis{Fail, "bad_token",
			"the Entra token was refused: wrong tenant, wrong audience (scope) or expired",
			"check tenant_id and scope (https://cognitiveservices.azure.com/.default), and that the resource has a custom subdomain"}
	case code == "DeploymentNotFound":
		return Diagnosis{Fail, "deployment_not_found",
			fmt.Sprintf("the resource has no deployment named %s", deployment),
			"fix deployments[].upstreams[].deployment to the name shown in the resource's Deployments page"}
	case status == http.StatusNotFound:
		return Diagnosis{Fail, "not_found",
			"the endpoint answered 404 Resource not found: a wrong path, api_version or endpoint",
			"check the endpoint (no /openai suffix) and api_version"}
	case status == http.StatusTooManyRequests:
		return Diagnosis{Warn, "rate_limited",
			"the call got through but the deployment is at its rate limit right now", ""}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return Diagnosis{Fail, "denied", fmt.Sprintf("refused with %d: %s", status, msg), ""}
	default:
		return Diagnosis{Warn, "upstream_error", fmt.Sprintf("answer %d: %s", status, msg), ""}
	}
}
