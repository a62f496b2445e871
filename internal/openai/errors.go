package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// FrontDoorError renders Azure's front-door error envelope. Azure writes a
// space after "message": but none after "code":, and clients that compare
// Content-Length (or golden files) notice, so the layout is written by hand
// rather than by encoding/json (wire reference §2.0).
func FrontDoorError(code, message string) []byte {
	var b strings.Builder
	b.Grow(len(code) + len(message) + 40)
	b.WriteString(`{"error":{"code":`)
	b.WriteString(jsonString(code))
	b.WriteString(`,"message": `)
	b.WriteString(jsonString(message))
	b.WriteString(`}}`)
	return []byte(b.String())
}

// FrontDoorErrorCompact renders the same envelope without the space after
// "message":, the layout of the captures of Azure's invalid-key 401 (224
// bytes, §2.1), DeploymentNotFound (§2.8), PermissionDenied (§2.4) and the
// v1 "API version not supported" 400 (§2.7). Azure is not consistent; each
// constructor call follows its error's capture.
func FrontDoorErrorCompact(code, message string) []byte {
	return []byte(`{"error":{"code":` + jsonString(code) + `,"message":` + jsonString(message) + `}}`)
}

// StatusError renders the APIM-style envelope {"statusCode": N, "message": "…"}
// that Azure OpenAI uses for Entra token failures and APIM for its policies
// (wire reference §2.3, §5.1).
func StatusError(status int, message string) []byte {
	return []byte(`{"statusCode": ` + strconv.Itoa(status) + `, "message": ` + jsonString(message) + `}`)
}

// ModelError renders the OpenAI-style validation envelope the model itself
// returns ({"error":{"message","type","param","code"}}), used for request
// validation that a real deployment would perform (wire reference §2.7, §2.10).
func ModelError(message, typ, param, code string) []byte {
	e := struct {
		Message string  `json:"message"`
		Type    *string `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}{Message: message, Type: nullable(typ), Param: nullable(param), Code: nullable(code)}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // OpenAI sends ">=" as is
	_ = enc.Encode(map[string]any{"error": e})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// jsonString quotes s as a JSON string without HTML escaping, as Azure does.
func jsonString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// The messages below are Azure's, verbatim. Tests pin their bytes.
const (
	MsgInvalidKey         = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."
	MsgTokenInvalid       = "Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired."
	MsgLocalAuthDisabled  = "Key based authentication is disabled for this resource."
	MsgPublicDisabled     = "Public access is disabled. Please configure private endpoint."
	MsgFirewallDenied     = "Access denied due to Virtual Network/Firewall rules."
	MsgResourceNotFound   = "Resource not found"
	MsgAPIVersionNotSupp  = "API version not supported"
	MsgDeploymentNotFound = "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."
	MsgServiceUnavailable = "The service is temporarily unable to process your request. Please try again later."
	MsgGatewayTimeout     = "The upstream service did not respond in time. Please try again later."
	MsgInternalError      = "The server had an error while processing your request. Sorry about that!"
	// PolicyIDTrafficDenied is the policy-id header Azure sends with network denials (§2.6).
	PolicyIDTrafficDenied = "ThrowExceptionDueToTrafficDenied"
)

// PermissionDeniedMessage is Azure's RBAC denial text (§2.4): the principal,
// the missing data action and the templated operation, each in backticks.
func PermissionDeniedMessage(principal, dataAction, method, pathTemplate string) string {
	return fmt.Sprintf("The principal `%s` lacks the required data action `%s` to perform `%s %s` operation.",
		principal, dataAction, method, pathTemplate)
}

// RateLimitMessage is Azure's 429 text (§2.9). kind is "token" or "call".
func RateLimitMessage(operationID, apiVersion, kind string, retryAfterSeconds int) string {
	return fmt.Sprintf("Requests to the %s Operation under Azure OpenAI API version %s have exceeded %s rate limit of your current OpenAI S0 pricing tier. Please retry after %d seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
		operationID, apiVersion, kind, retryAfterSeconds)
}
