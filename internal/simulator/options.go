package simulator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/openai"
)

// Kind is what a deployment serves, which decides the operations it accepts.
type Kind string

// The deployment kinds the simulator serves.
const (
	KindChat        Kind = "chat"
	KindCompletions Kind = "completions"
	KindEmbeddings  Kind = "embeddings"
	// KindImages serves images/generations (dall-e, gpt-image).
	KindImages Kind = "images"
	// KindTranscription serves audio/transcriptions and audio/translations.
	KindTranscription Kind = "transcription"
	// KindSpeech serves audio/speech.
	KindSpeech Kind = "speech"
	// KindMessages serves the Anthropic Messages API (Claude models).
	KindMessages Kind = "messages"
)

// KindOf names the kind a deployment of model serves, by the model's
// family: Claude models serve the Messages API; the others as
// openai.KindOfModel says (embeddings, images, transcription, speech,
// completions, chat otherwise). Deployments that set no Kind get this one.
func KindOf(model string) Kind {
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(model)), "claude") {
		return KindMessages
	}
	switch openai.KindOfModel(model) {
	case openai.ModelEmbeddings:
		return KindEmbeddings
	case openai.ModelCompletions:
		return KindCompletions
	case openai.ModelImages:
		return KindImages
	case openai.ModelTranscription:
		return KindTranscription
	case openai.ModelSpeech:
		return KindSpeech
	}
	return KindChat
}

// DefaultRegion is the x-ms-region the simulator reports when Options.Region
// is empty.
const DefaultRegion = "Sweden Central"

// DefaultEmbeddingDims is the vector length of an embeddings deployment that
// sets none, that of text-embedding-3-small and text-embedding-ada-002.
const DefaultEmbeddingDims = 1536

// DefaultMaxTokens is the completion allowance the limiter counts at
// admission for a request that sets no max_tokens, when Options sets none.
const DefaultMaxTokens = 1024

// maxEmbeddingDims bounds EmbeddingDims so that one request cannot make the
// simulator allocate without limit (text-embedding-3-large has 3072).
const maxEmbeddingDims = 16384

// Deployment is one simulated Azure OpenAI deployment.
type Deployment struct {
	// Name is the deployment name clients put in the path (legacy surface)
	// or in the body's model field (v1 surface).
	Name string
	// Model is the model the deployment runs; it picks the tokenizer and is
	// what responses report. Empty means the same as Name.
	Model string
	// Version is the model version (such as 2024-07-18). When set, responses
	// report Model-Version as Azure does (gpt-4o-mini-2024-07-18).
	Version string
	// Kind is what the deployment serves. Empty means KindOf(Model): chat
	// for GPT models, messages for Claude models.
	Kind Kind
	// EmbeddingDims is the vector length of an embeddings deployment, and the
	// most a request's dimensions field may ask for. 0 means 1536.
	EmbeddingDims int
	// TPM is the tokens-per-minute limit, counted at admission from the
	// prompt estimate plus max_tokens. 0 means unlimited.
	TPM int
	// RPM is the requests-per-minute limit. 0 means unlimited.
	RPM int
}

// Latency is how long the simulated model takes, so that load tests see
// realistic queueing and streaming behaviour.
type Latency struct {
	// TimeToFirstToken is the wait before the first generated token (and the
	// whole processing time of an embeddings call).
	TimeToFirstToken time.Duration
	// TokensPerSecond is the generation speed after the first token. 0 means
	// infinitely fast.
	TokensPerSecond float64
	// Jitter spreads every wait uniformly by ±Jitter of its length, from 0
	// (none) to 1.
	Jitter float64
}

// Faults are failure rates, each the probability (0 to 1) that a request
// meets that fault. They are drawn from a generator seeded by Options.Seed.
type Faults struct {
	// ErrorRate answers 500 InternalServerError instead of a result.
	ErrorRate float64
	// TimeoutRate makes the server hang, sending nothing, until the client
	// gives up or the request context ends.
	TimeoutRate float64
	// DropStreamRate cuts a streamed answer midway: the connection is aborted
	// without [DONE].
	DropStreamRate float64
	// RateLimitRate answers 429 at random, whatever the limiter says.
	RateLimitRate float64
}

// Options configure a Server. Start from DefaultOptions.
type Options struct {
	// Region is the x-ms-region header value. Empty means Sweden Central.
	Region string
	// Deployments are the deployments the simulated resource has.
	Deployments []Deployment
	// Latency is the timing model of generation.
	Latency Latency
	// Faults are the injected failure rates.
	Faults Faults
	// Seed makes generated text, vectors, IDs and fault draws reproducible.
	Seed int64
	// DefaultMaxTokens is the completion allowance counted at admission when
	// a request sets no max_tokens. 0 means DefaultMaxTokens.
	DefaultMaxTokens int
	// Now is the clock of the limiter and of created timestamps. Nil means
	// time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx ends, returning ctx's error in that case.
	// Tests pass one that returns at once. Nil means a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// BatchTime is how long a batch takes from validating to completed
	// (a third in each state). 0 means DefaultBatchTime.
	BatchTime time.Duration
	// APIKey, when set, is the key every request must present in api-key or
	// in Authorization: Bearer. It is never logged.
	APIKey string
}

// DefaultOptions is a small Azure OpenAI resource: two chat deployments,
// one embeddings deployment and one Claude deployment (Messages API) with
// default Standard quotas, and a latency model shaped like gpt-4o-mini's
// but faster, so load tests finish quickly.
func DefaultOptions() Options {
	return Options{
		Region: DefaultRegion,
		Deployments: []Deployment{
			{Name: "gpt-4o-mini", Model: "gpt-4o-mini", Version: "2024-07-18", Kind: KindChat, TPM: 1_000_000, RPM: 6_000},
			{Name: "gpt-4o", Model: "gpt-4o", Version: "2024-11-20", Kind: KindChat, TPM: 450_000, RPM: 2_700},
			{Name: "text-embedding-3-small", Model: "text-embedding-3-small", Kind: KindEmbeddings, EmbeddingDims: DefaultEmbeddingDims, TPM: 1_000_000, RPM: 6_000},
			{Name: "claude-sonnet-4-6", Model: "claude-sonnet-4-6", Kind: KindMessages, TPM: 2_000_000, RPM: 4_000},
		},
		Latency: Latency{
			TimeToFirstToken: 150 * time.Millisecond,
			TokensPerSecond:  250,
			Jitter:           0.2,
		},
		Seed: 1,
	}
}

// withDefaults fills the documented zero-value defaults.
func (o Options) withDefaults() Options {
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.BatchTime == 0 {
		o.BatchTime = DefaultBatchTime
	}
	if o.DefaultMaxTokens == 0 {
		o.DefaultMaxTokens = DefaultMaxTokens
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	deps := make([]Deployment, len(o.Deployments))
	for i, d := range o.Deployments {
		if d.Model == "" {
			d.Model = d.Name
		}
		if d.Kind == "" {
			d.Kind = KindOf(d.Model)
		}
		if d.EmbeddingDims == 0 && d.Kind == KindEmbeddings {
			d.EmbeddingDims = DefaultEmbeddingDims
		}
		deps[i] = d
	}
	o.Deployments = deps
	return o
}

// validate reports every problem of defaulted options at once.
func (o Options) validate() error {
	var errs []error
	if len(o.Deployments) == 0 {
		errs = append(errs, errors.New("no deployments"))
	}
	seen := map[string]bool{}
	for i, d := range o.Deployments {
		where := fmt.Sprintf("deployment %d (%q)", i, d.Name)
		switch {
		case d.Name == "":
			errs = append(errs, fmt.Errorf("deployment %d: empty name", i))
		case seen[d.Name]:
			errs = append(errs, fmt.Errorf("%s: duplicate name", where))
		}
		seen[d.Name] = true
		switch d.Kind {
		case KindChat, KindCompletions, KindEmbeddings, KindImages, KindTranscription, KindSpeech, KindMessages:
		default:
			errs = append(errs, fmt.Errorf("%s: unknown kind %q (want chat, completions, embeddings, images, transcription, speech or messages)", where, d.Kind))
		}
		if d.EmbeddingDims < 0 || d.EmbeddingDims > maxEmbeddingDims {
			errs = append(errs, fmt.Errorf("%s: embedding dims %d out of range 1..%d", where, d.EmbeddingDims, maxEmbeddingDims))
		}
		if d.TPM < 0 {
			errs = append(errs, fmt.Errorf("%s: negative TPM", where))
		}
		if d.RPM < 0 {
			errs = append(errs, fmt.Errorf("%s: negative RPM", where))
		}
	}
	if o.Latency.TimeToFirstToken < 0 {
		errs = append(errs, errors.New("latency: negative time to first token"))
	}
	if o.Latency.TokensPerSecond < 0 || math.IsNaN(o.Latency.TokensPerSecond) || math.IsInf(o.Latency.TokensPerSecond, 0) {
		errs = append(errs, errors.New("latency: tokens per second must be a finite number >= 0"))
	}
	errs = appendRate(errs, "latency jitter", o.Latency.Jitter)
	errs = appendRate(errs, "faults: error rate", o.Faults.ErrorRate)
	errs = appendRate(errs, "faults: timeout rate", o.Faults.TimeoutRate)
	errs = appendRate(errs, "faults: drop stream rate", o.Faults.DropStreamRate)
	errs = appendRate(errs, "faults: rate limit rate", o.Faults.RateLimitRate)
	if o.DefaultMaxTokens < 0 {
		errs = append(errs, errors.New("negative default max tokens"))
	}
	return errors.Join(errs...)
}

func appendRate(errs []error, what string, v float64) []error {
	if !(v >= 0 && v <= 1) {
		errs = append(errs, fmt.Errorf("%s %v out of range 0..1", what, v))
	}
	return errs
}

// sleep is the real Sleep: a timer that ctx can cut short.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
