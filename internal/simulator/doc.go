// Package simulator is an offline Azure OpenAI resource: teams load-test
// their applications (and moat itself) against it with no Azure account and
// no network, so it answers byte for byte like Azure where the wire
// reference (../shared/reference/azure-openai-wire.md) pins the bytes.
//
// It serves chat completions, legacy completions and embeddings on the three
// URL families clients use: the dated surface
// POST /openai/deployments/{deployment}/{op}?api-version=YYYY-MM-DD[-preview]
// (§1.2), the v1 surface POST /openai/v1/{op} and plain OpenAI paths
// POST /v1/{op}, which route by the body's model field (§1.4), plus the
// model listings GET /openai/models?api-version=…, /openai/v1/models and
// /v1/models.
//
// Claude deployments (KindMessages) answer the Anthropic Messages API
// instead, on Anthropic's paths POST /v1/messages[/count_tokens] and Azure
// AI Foundry's /anthropic/v1/messages[/count_tokens], with Anthropic's
// bodies, event stream, errors and headers; README.md says what is
// emulated and the rules chosen where the API publishes none (token
// counting, prompt caching).
//
// Answers are deterministic given Options.Seed: chat and completions text is
// a sequence of English words drawn from a hash of the seed, the model and
// the prompt, each word a single token, so max_tokens cuts it at an exact
// token count (finish_reason "length"). Prompt usage is tokens.Counter.Prompt
// of the request, the same estimate a gateway makes; completion usage is the
// token count of the text. Embeddings are unit vectors drawn from a hash of
// the input.
//
// Requests are evaluated in Azure's order (§2.12): API key (401, §2.1),
// path and api-version (404 "Resource not found", §2.7; a dated version on
// /openai/v1 is 400 "API version not supported"), deployment (404
// DeploymentNotFound, §2.8), body (400 in OpenAI's model-error shape),
// operation against the deployment's kind, then rate limits, then model
// validation, then faults.
//
// Choices where the reference has no capture, made to look like Azure:
//
//   - An operation the deployment's kind does not serve (embeddings on a chat
//     deployment) is 400 {"error":{"code":"OperationNotSupported","message":
//     "The embeddings operation does not work with the specified model, …"}},
//     the text Azure gives when a model cannot serve an operation.
//   - An injected server error is 500 {"error":{"code":"InternalServerError",
//     "message": "The server had an error while processing your request.
//     Sorry about that!"}} in the front-door envelope.
//   - Rate limits are per deployment over a sliding 60-second window. Tokens
//     are the admission estimate (prompt estimate plus max_tokens × n, or
//     Options.DefaultMaxTokens × n when unset) and are never settled against
//     real usage, as Azure counts them (§2.9). Requests are checked before
//     tokens. A 429 carries retry-after, retry-after-ms, policy-id and the
//     remaining counts; an unlimited dimension (0) sends no
//     x-ratelimit-*-requests or -tokens headers.
//   - The first streamed event is §1.9's prompt-filter chunk exactly, also
//     when include_usage is set (usage:null appears on the model's chunks
//     only). No trailing content-filter annotation chunk is sent.
//   - A body over 32 MiB is 413 {"error":{"code":"413","message": "The
//     request body is too large."}}.
//   - Validation errors use OpenAI's texts (missing messages, n and
//     max_tokens bounds, embeddings input, dimensions, encoding_format).
//   - A dropped stream aborts the connection with http.ErrAbortHandler, so
//     the client sees a truncated body rather than a clean end; a handler
//     that wraps the Server and recovers panics must re-panic that value.
//
// Time is a parameter: Options.Now drives the limiter and timestamps and
// Options.Sleep all latency, so tests run without real waits.
package simulator
