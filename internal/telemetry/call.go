package telemetry

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/semconv/v1.41.0/genaiconv"
	"go.opentelemetry.io/otel/trace"
)

// Call is what moat knows about one finished call. It carries identifiers
// and numbers only: no credential, header or body ever reaches a Call.
type Call struct {
	Start, End time.Time
	// FirstByte is when the first response body byte arrived; zero if none.
	FirstByte time.Time
	// FirstToken is when the first generated content arrived (for a stream,
	// the first event carrying text or arguments); zero if none.
	FirstToken time.Time
	RequestID  string
	Method     string
	// Operation is moat's operation name (chat, completions, embeddings,
	// responses, images, …), empty when the call failed before routing.
	Operation string
	// Provider is gen_ai.provider.name of the upstream that answered, or of
	// the deployment's first upstream when none was called; the upstream's
	// protocol names it ("" when unknown).
	Provider string
	// Deployment is the name the client called; Model is the model behind it.
	Deployment, Model string
	// Upstream is the configured name of the upstream last tried.
	Upstream string
	// ServerAddress and ServerPort are that upstream's host and port.
	ServerAddress string
	ServerPort    int
	// Status is what moat answered; UpstreamStatus what the upstream did (0: none).
	Status, UpstreamStatus int
	// ErrorKind is moat's error kind, empty on success.
	ErrorKind string
	// InputTokens and OutputTokens are the call's usage when HasUsage.
	InputTokens, OutputTokens int
	HasUsage                  bool
	// TokensEstimated is set when moat counted the tokens itself.
	TokensEstimated bool
	Streamed        bool
	// Caller is the caller's ID (key ID or principal), never a secret.
	Caller   string
	Attempts int
}

// OperationName maps moat's operation to gen_ai.operation.name: the
// well-known value where one applies (the Responses API and Anthropic's
// Messages are "chat", told apart by openai.api.type and the provider), moat's own name otherwise, and "" for calls
// that are not GenAI operations (model and deployment lists).
func OperationName(op string) string {
	switch op {
	case "chat", "responses", "messages":
		return string(genaiconv.OperationNameChat)
	case "completions":
		return string(genaiconv.OperationNameTextCompletion)
	case "embeddings":
		return string(genaiconv.OperationNameEmbeddings)
	case "images", "transcriptions", "translations", "speech":
		return op
	default:
		return ""
	}
}

// failed reports whether the call failed on moat's or the upstream's side:
// a client's or a policy's refusal (4xx) is the server working as meant.
func (c *Call) failed() bool {
	return c.Status >= 500 || strings.HasPrefix(c.ErrorKind, "upstream_") || strings.HasPrefix(c.ErrorKind, "gateway_")
}

// SpanName is "{gen_ai.operation.name} {gen_ai.request.model}" as the GenAI
// conventions name spans, the operation alone without a deployment, and the
// HTTP method for calls that never became a GenAI operation.
func (c *Call) SpanName() string {
	op := OperationName(c.Operation)
	switch {
	case op != "" && c.Deployment != "":
		return op + " " + c.Deployment
	case op != "":
		return op
	case c.Method != "":
		return c.Method
	default:
		return "moat"
	}
}

// Attribute keys of moat's own, for what the conventions have no name for.
const (
	attrRequestID          = attribute.Key("moat.request_id")
	attrDeployment         = attribute.Key("moat.deployment")
	attrUpstream           = attribute.Key("moat.upstream")
	attrUpstreamStatus     = attribute.Key("moat.upstream.status_code")
	attrCaller             = attribute.Key("moat.caller")
	attrAttempts           = attribute.Key("moat.attempts")
	attrStreamed           = attribute.Key("moat.streamed")
	attrTokensEstimated    = attribute.Key("moat.tokens_estimated")
	attrOperation          = attribute.Key("moat.operation")
	attrTimeToFirstChunkMs = attribute.Key("moat.time_to_first_byte_ms")
)

func endSpan(span trace.Span, c Call) {
	if !span.IsRecording() {
		span.End(trace.WithTimestamp(c.End))
		return
	}
	span.SetName(c.SpanName())
	attrs := make([]attribute.KeyValue, 0, 24)
	if op := OperationName(c.Operation); op != "" {
		attrs = append(attrs, semconv.GenAIOperationNameKey.String(op))
	}
	if p := c.Provider; p != "" {
		attrs = append(attrs, semconv.GenAIProviderNameKey.String(p))
	}
	attrs = append(attrs, c.modelAttrs()...)
	if c.ErrorKind != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(c.ErrorKind))
	}
	attrs = append(attrs,
		semconv.HTTPRequestMethodKey.String(c.Method),
		semconv.HTTPResponseStatusCode(c.Status),
		attrRequestID.String(c.RequestID),
		attrStreamed.Bool(c.Streamed),
	)
	if c.Operation != "" {
		attrs = append(attrs, attrOperation.String(c.Operation))
	}
	switch c.Operation {
	case "chat":
		attrs = append(attrs, semconv.OpenAIAPITypeChatCompletions)
	case "responses":
		attrs = append(attrs, semconv.OpenAIAPITypeResponses)
	}
	if c.HasUsage {
		attrs = append(attrs, semconv.GenAIUsageInputTokens(c.InputTokens))
		if c.Operation != "embeddings" {
			attrs = append(attrs, semconv.GenAIUsageOutputTokens(c.OutputTokens))
		}
		attrs = append(attrs, attrTokensEstimated.Bool(c.TokensEstimated))
	}
	if !c.FirstByte.IsZero() {
		ttfb := c.FirstByte.Sub(c.Start)
		attrs = append(attrs, attrTimeToFirstChunkMs.Float64(float64(ttfb)/float64(time.Millisecond)))
		if c.Streamed {
			attrs = append(attrs, semconv.GenAIResponseTimeToFirstChunk(ttfb.Seconds()))
		}
	}
	if c.Deployment != "" {
		attrs = append(attrs, attrDeployment.String(c.Deployment))
	}
	if c.Upstream != "" {
		attrs = append(attrs, attrUpstream.String(c.Upstream), attrAttempts.Int(c.Attempts))
	}
	if c.UpstreamStatus > 0 {
		attrs = append(attrs, attrUpstreamStatus.Int(c.UpstreamStatus))
	}
	if c.Caller != "" {
		attrs = append(attrs, attrCaller.String(c.Caller))
	}
	span.SetAttributes(attrs...)
	if c.failed() {
		span.SetStatus(codes.Error, c.ErrorKind)
	}
	span.End(trace.WithTimestamp(c.End))
}

// modelAttrs are the convention's attributes about the model and where it
// runs, shared by the span and the metrics. All have low cardinality: they
// come from config.
func (c *Call) modelAttrs() []attribute.KeyValue {
	var a []attribute.KeyValue
	if c.Deployment != "" {
		a = append(a, semconv.GenAIRequestModel(c.Deployment))
	}
	if c.Model != "" && c.UpstreamStatus > 0 && c.UpstreamStatus < 400 {
		a = append(a, semconv.GenAIResponseModel(c.Model))
	}
	if c.ServerAddress != "" {
		a = append(a, semconv.ServerAddress(c.ServerAddress), semconv.ServerPort(c.ServerPort))
	}
	return a
}

// Bucket boundaries the GenAI conventions recommend for each metric.
var (
	tokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	ttftBuckets     = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
)

// instruments are the GenAI metrics. moat is a server to its clients and a
// client of its upstreams: durations are measured where the client's call
// arrives and leaves (gen_ai.server.*), and token usage, which the
// conventions define on the client side only, is what moat read from the
// upstream (gen_ai.client.token.usage).
type instruments struct {
	tokens   genaiconv.ClientTokenUsage
	duration genaiconv.ServerRequestDuration
	ttft     genaiconv.ServerTimeToFirstToken
}

func newInstruments(m metric.Meter) (*instruments, error) {
	var (
		in  instruments
		err error
	)
	if in.tokens, err = genaiconv.NewClientTokenUsage(m, metric.WithExplicitBucketBoundaries(tokenBuckets...)); err != nil {
		return nil, fmt.Errorf("telemetry metric %s: %w", in.tokens.Name(), err)
	}
	if in.duration, err = genaiconv.NewServerRequestDuration(m, metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		return nil, fmt.Errorf("telemetry metric %s: %w", in.duration.Name(), err)
	}
	if in.ttft, err = genaiconv.NewServerTimeToFirstToken(m, metric.WithExplicitBucketBoundaries(ttftBuckets...)); err != nil {
		return nil, fmt.Errorf("telemetry metric %s: %w", in.ttft.Name(), err)
	}
	return &in, nil
}

// record adds c to the metrics. Only GenAI operations on a known deployment
// count: calls refused before that are in moat's Prometheus metrics and the
// request log, and have no model or provider to report.
func (in *instruments) record(ctx context.Context, c Call) {
	op, provider := OperationName(c.Operation), c.Provider
	if op == "" || provider == "" || c.Deployment == "" {
		return
	}
	opAttr, provAttr := genaiconv.OperationNameAttr(op), genaiconv.ProviderNameAttr(provider)
	base := c.modelAttrs()
	withErr := base
	if c.ErrorKind != "" {
		withErr = append(base[:len(base):len(base)], in.duration.AttrErrorType(genaiconv.ErrorTypeAttr(c.ErrorKind)))
	}
	in.duration.Record(ctx, c.End.Sub(c.Start).Seconds(), opAttr, provAttr, withErr...)
	if c.HasUsage {
		in.tokens.Record(ctx, int64(c.InputTokens), opAttr, provAttr, genaiconv.TokenTypeInput, base...)
		if c.Operation != "embeddings" {
			in.tokens.Record(ctx, int64(c.OutputTokens), opAttr, provAttr, genaiconv.TokenTypeOutput, base...)
		}
	}
	if c.Streamed && c.ErrorKind == "" && !c.FirstToken.IsZero() {
		in.ttft.Record(ctx, c.FirstToken.Sub(c.Start).Seconds(), opAttr, provAttr, base...)
	}
}
