package upstream

import (
	"net/http"
	"net/url"

	"github.com/moat-gw/moat/internal/openai"
)

// azure is Azure OpenAI: deployment-scoped paths with a dated api-version
// ({endpoint}/openai/deployments/{d}/{operation}), except the Responses
// API, which Azure serves on /openai/v1/responses with the deployment in
// "model"; an api-key header or an Entra token.
type azure struct{}

func (azure) Type() Type { return TypeAzure }

func (azure) Spec() Spec {
	return Spec{URL: URLEndpoint, Entra: true, DefaultScope: "https://cognitiveservices.azure.com/.default",
		DatedAPIVersion: true, Deployments: true}
}

func (azure) Provider() string { return "azure.ai.openai" }

func (azure) Serves(op openai.Operation) bool { return op.Family() == openai.APIOpenAI }

func (azure) URL(e Endpoint, c Call) *url.URL { return azureURL(e, c) }

func (azure) Body(e Endpoint, c Call, body []byte) ([]byte, bool, error) {
	return azureBody(e, c, body)
}

func (azure) KeyAuth(key string) Authenticator { return APIKey(key) }

func (azure) Header(http.Header, Call) {}

func (azure) ScrubHeader(h http.Header) { scrubOpenAI(h) }

func (azure) Limits(h http.Header) Limits { return openaiLimits(h) }

func (azure) AnswerUsage(_ openai.Operation, tail []byte, whole bool) (openai.Usage, bool) {
	return openaiAnswerUsage(tail, whole)
}

func (azure) NewStream(c Call, injected bool) Stream { return newOpenAIStream(c, injected) }

func (azure) StreamText(name, data []byte) string {
	return openai.ParseStreamChunk(string(name), data).Text
}

// azureURL builds an Azure OpenAI URL. joinPath takes escaped segments, so
// the deployment is escaped once here.
func azureURL(e Endpoint, c Call) *url.URL {
	if c.Path != "" {
		return objectURL(e.Base, []string{"openai", "v1"}, c) // stored objects are served on v1
	}
	if c.Operation.AzureV1Only {
		return joinPath(e.Base, "openai", "v1", "responses")
	}
	u := joinPath(e.Base, "openai", "deployments", url.PathEscape(c.Deployment), c.Operation.Suffix)
	// What url.Values{"api-version": {v}}.Encode() writes, without its map.
	u.RawQuery = "api-version=" + url.QueryEscape(azureAPIVersion(e, c))
	return u
}

// azureBody forwards legacy bodies as they came (the path names the
// deployment, "model" is ignored); the v1 Responses endpoint routes on
// "model". Stream usage is asked for where the api-version has it.
func azureBody(e Endpoint, c Call, body []byte) ([]byte, bool, error) {
	if c.Operation.AzureV1Only {
		out, err := setModel(c, body)
		if err != nil {
			return nil, false, err
		}
		return out, false, nil
	}
	inject := e.StreamUsage && openai.SupportsStreamUsage(azureAPIVersion(e, c))
	return withStreamUsage(c, body, inject && !c.Operation.Multipart && len(body) > 0)
}

// azureAPIVersion is the client's dated api-version, or the configured one
// when the client called a surface without one (v1, OpenAI paths).
func azureAPIVersion(e Endpoint, c Call) string {
	if c.APIVersion != "" && c.APIVersion != "v1" && c.APIVersion != "preview" && c.APIVersion != "latest" {
		return c.APIVersion
	}
	return e.APIVersion
}
