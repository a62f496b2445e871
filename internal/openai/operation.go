package openai

// Operation is one inference operation of the data plane. Its fields drive
// routing, RBAC and logging, so that adding an operation is one table row.
type Operation struct {
	// Name is moat's short name, used in config (scoped keys) and metrics.
	Name string
	// Suffix is the path after /deployments/{id}/ or /openai/v1/.
	Suffix string
	// ID is Azure's operation ID, which appears verbatim in 429 messages.
	ID string
	// DataAction is the Azure RBAC data action the operation requires (§4.2).
	DataAction string
	// Multipart is true for operations whose body is multipart/form-data.
	Multipart bool
	// Preview is true when only preview api-versions serve the operation.
	Preview bool
	// Method is the HTTP method that calls the operation.
	Method string
	// ResourceScoped is true for operations that name no deployment on the
	// dated surface: /openai/{suffix} rather than
	// /openai/deployments/{deployment-id}/{suffix} (Responses, model lists).
	ResourceScoped bool
	// ReservesOutput is true for operations that generate text whose
	// length the request caps (max_tokens and its kin), so limits reserve
	// the cap, or the default, on top of the prompt.
	ReservesOutput bool
	// StreamEndsWithUsage is true when the operation's stream always ends
	// with usage, whatever the request asked (Responses' response.completed).
	StreamEndsWithUsage bool
	// StreamUsageOption is true when a streamed request may ask for a
	// final usage chunk with stream_options.include_usage (chat,
	// completions), which moat adds for its limits when the client did not.
	StreamUsageOption bool
	// StoresObject is true when a create leaves an object on the upstream
	// that made it (a stored response), so follow-ups must reach that
	// pool member (package affinity).
	StoresObject bool
	// AzureV1Only is true when Azure serves the operation only on its v1
	// surface, /openai/v1/{suffix}, which routes on the body's "model"
	// (Responses), whatever surface the client called.
	AzureV1Only bool
	// API is the client API family whose surface carries the operation:
	// an upstream serves an operation only if its protocol speaks the same
	// family (moat does not translate between them).
	API API
}

// API is a family of client APIs, each with its own paths, bodies and
// error shapes.
type API string

// APIs.
const (
	// APIOpenAI is Azure OpenAI and OpenAI: /openai/…, /openai/v1/…, /v1/….
	APIOpenAI API = "openai"
	// APIAnthropic is the Anthropic Messages API, as Azure AI Foundry
	// serves it: /anthropic/v1/….
	APIAnthropic API = "anthropic"
)

const dataActionPrefix = "Microsoft.CognitiveServices/accounts/OpenAI/"

// anthropicDataActionPrefix names moat's data actions for Claude. Azure
// publishes no per-operation data actions for Claude on Foundry (its roles
// grant Microsoft.CognitiveServices/*), so moat chose these, under the same
// provider, so that Cognitive Services User grants them and OpenAI roles
// do not.
const anthropicDataActionPrefix = "Microsoft.CognitiveServices/accounts/Anthropic/"

// Operations is the data-plane operation table.
var operations = []Operation{
	{Name: "chat", Suffix: "chat/completions", ID: "ChatCompletions_Create", DataAction: dataActionPrefix + "deployments/chat/completions/action",
		Method: post, ReservesOutput: true, StreamUsageOption: true},
	{Name: "completions", Suffix: "completions", ID: "Completions_Create", DataAction: dataActionPrefix + "deployments/completions/action",
		Method: post, ReservesOutput: true, StreamUsageOption: true},
	{Name: "embeddings", Suffix: "embeddings", ID: "Embeddings_Create", DataAction: dataActionPrefix + "deployments/embeddings/action",
		Method: post},
	{Name: "images", Suffix: "images/generations", ID: "ImageGenerations_Create", DataAction: dataActionPrefix + "images/generations/action",
		Method: post},
	{Name: "transcriptions", Suffix: "audio/transcriptions", ID: "Transcriptions_Create", DataAction: dataActionPrefix + "deployments/audio/action",
		Method: post, Multipart: true},
	{Name: "translations", Suffix: "audio/translations", ID: "Translations_Create", DataAction: dataActionPrefix + "deployments/audio/action",
		Method: post, Multipart: true},
	{Name: "speech", Suffix: "audio/speech", ID: "Speech_Create", DataAction: dataActionPrefix + "deployments/audio/action",
		Method: post, Preview: true},
	{Name: "responses", Suffix: "responses", ID: "Responses_Create", DataAction: dataActionPrefix + "responses/write",
		Method: post, ResourceScoped: true, ReservesOutput: true, StreamEndsWithUsage: true, StoresObject: true, AzureV1Only: true},
	{Name: "models", Suffix: "models", ID: "Models_List", DataAction: dataActionPrefix + "models/read",
		Method: get, ResourceScoped: true},
	{Name: "messages", Suffix: "messages", ID: "Messages_Create", DataAction: anthropicDataActionPrefix + "messages/action",
		Method: post, ReservesOutput: true, StreamEndsWithUsage: true, API: APIAnthropic},
	{Name: "count_tokens", Suffix: "messages/count_tokens", ID: "Messages_CountTokens", DataAction: anthropicDataActionPrefix + "messages/count_tokens/action",
		Method: post, API: APIAnthropic},
}

// Family is the operation's API family; rows that name none are OpenAI's.
func (o Operation) Family() API {
	if o.API == "" {
		return APIOpenAI
	}
	return o.API
}

const (
	post = "POST"
	get  = "GET"
)

// Operations returns a copy of the operation table.
func Operations() []Operation { return append([]Operation(nil), operations...) }

// LookupOperation finds the deployment-scoped OpenAI operation for a path
// suffix.
func LookupOperation(suffix string) (Operation, bool) {
	return LookupAPIOperation(APIOpenAI, suffix)
}

// LookupAPIOperation finds api's operation for a path suffix.
func LookupAPIOperation(api API, suffix string) (Operation, bool) {
	for _, op := range operations {
		if op.Suffix == suffix && op.Family() == api {
			return op, true
		}
	}
	return Operation{}, false
}

// OperationByName finds an operation by its short name.
func OperationByName(name string) (Operation, bool) {
	for _, op := range operations {
		if op.Name == name {
			return op, true
		}
	}
	return Operation{}, false
}
