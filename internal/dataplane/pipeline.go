package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httputil"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/affinity"
	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/netpolicy"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/ratelimit"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/route"
	"github.com/moat-gw/moat/internal/team"
	"github.com/moat-gw/moat/internal/telemetry"
	"github.com/moat-gw/moat/internal/upstream"
)

// Pipeline is one immutable build of the data plane from one config. A
// reload builds a new pipeline and swaps it in; calls in flight finish on
// the one they started with.
type Pipeline struct {
	log              *slog.Logger
	now              func() time.Time
	region           string
	regionValue      []string // region as a header value, shared by every answer (headers.go)
	replica          string   // replica.name, the request log's Replica column
	versions         map[string]bool
	maxBody          int64
	maxRetry         int64
	bodyTimeout      time.Duration // limits.body_read_timeout; 0 means none
	maxBodyLog       int
	protect          *protection // body logging, redaction, guardrails
	deployments      map[string]*deployment
	depNames         []string
	targets          map[string]*upstream.Target
	tokens           TokenCounter
	loose            looseSet // calls in flight on a prompt bound (admission.go)
	proxy            *httputil.ReverseProxy
	metrics          *Metrics
	sink             func(reqlog.Record)
	newID            func() string
	policy           *netpolicy.Policy
	listeners        map[string]*netpolicy.Listener
	id               *identity
	denials          *logSampler
	anonRows         *rowSampler // request-log rows of calls refused before authentication
	maxAttempts      int
	limiter          ratelimit.Limiter
	rateRules        []config.RateRule
	templates        opTemplates // operation templates for RBAC messages (identity.go)
	defaultMaxTokens int
	tel              *telemetry.Telemetry // nil unless OTLP export is configured
	pins             *affinity.Table      // where stored responses live (objects.go); shared across pipelines
	teams            *team.Directory      // token principals' teams; shared across pipelines
	spend            spend                // prices and budgets (spend.go)

	// maxExactCount is the prompt text tokenized exactly per call.
	maxExactCount int
}

// deployment is a configured deployment with its pool of upstreams.
type deployment struct {
	name    string
	model   string
	pool    *route.Pool
	members map[string]poolMember
	// provider is the first configured upstream's provider, the one
	// telemetry reports for calls that reached no upstream.
	provider string
}

// poolMember is one upstream serving a deployment.
type poolMember struct {
	target   *upstream.Target
	upstream string        // the deployment's name on the upstream
	idle     time.Duration // longest silence between stream events
}

// TokenCounter counts tokens offline, per model family. PromptWithin
// counts at most maxExactBytes of prompt text exactly and bounds the rest
// from above, and stops with ctx's error when the client leaves.
type TokenCounter interface {
	PromptWithin(ctx context.Context, model string, r *openai.Request, maxExactBytes int) (int, error)
	// PromptBound is an upper bound of PromptWithin's count, found without
	// tokenizing (admission reserves on it away from a limit's edge).
	PromptBound(r *openai.Request) int
	Count(model, text string) int
}

// ServeHTTP runs the stages in their fixed order. The order is the contract:
//
//  1. scope: request ID and Azure's correlation headers, on every answer.
//  2. network: client address and public network access rules, before
//     anything that could tell a denied caller about keys or deployments.
//  3. authenticate: key or token (401/403), before routing, so unknown
//     paths and deployments are not revealed to anonymous callers.
//  4. route: path and api-version, answered as Azure does (404/400).
//  5. body: bounded read (413), JSON parse (400), deployment from body on v1.
//  6. authorize: the key's scope, then RBAC for the operation's data action
//     at the deployment's scope (401 PermissionDenied), before the lookup,
//     so a caller cannot probe which deployments exist beyond its grants.
//  7. deployment lookup (404 DeploymentNotFound), and a deployment whose
//     upstreams do not speak the call's API refused (400).
//     7b. prompt guardrails (400 content_filter, or the body masked), after
//     the lookup because rules are per deployment, and before limits so
//     a refused prompt reserves nothing.
//  8. limits: reserve tokens before forwarding; then budgets reserve the
//     call's estimated cost and tokens (spend.go), after the limits so a
//     call refused for its rate never holds budget.
//  9. forward through ReverseProxy; usage captured from the response,
//     completion guardrails on the answer (guard.go).
//  10. log once, in finish, whatever happened above; bodies redacted
//     before the record leaves (protect.go).
func (p *Pipeline) ServeHTTP(w http.ResponseWriter, r *http.Request, listener string) {
	s := &scope{id: p.newID(), start: p.now(), listener: listener, api: apiOf(r.URL.Path),
		clientRequestID: r.Header.Get("X-Ms-Client-Request-Id"), respHeader: w.Header()}
	if p.tel != nil {
		s.span = p.tel.Start(r.Context(), r.Header, s.start)
	}
	p.answerHeaders(w.Header(), s)
	p.metrics.inflight.Inc()
	defer p.metrics.inflight.Dec()
	defer func() {
		rec := recover()
		if rec != nil && rec != http.ErrAbortHandler {
			p.log.Error("panic serving request", "request_id", s.id, "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
			s.err = render(s.api, httpx.From(errors.New("panic")))
			httpx.WriteError(w, p.renderer(s), s.err)
			s.status = s.err.Status
		}
		p.finish(r, s)
		if rec == http.ErrAbortHandler {
			panic(rec)
		}
	}()
	if err := p.serve(w, r, s); err != nil {
		he := render(s.api, httpx.From(err))
		s.err = he
		s.status = he.Status
		httpx.WriteError(w, p.renderer(s), he)
	}
}

// serve runs stages 2–9; each returns an error that ServeHTTP renders.
func (p *Pipeline) serve(w http.ResponseWriter, r *http.Request, s *scope) error {
	client, err := p.network(r, s.listener)
	s.clientIP = client
	if err != nil {
		return err
	}
	if s.api == openai.APIAnthropic {
		anthropicCredentials(r)
	}
	if err := p.authenticate(r, s); err != nil {
		return err
	}
	if r.URL.Path == WhoamiPath && r.Method == http.MethodGet {
		return p.whoami(w, r, s)
	}
	call, err := parseRoute(r, p.versions)
	if err != nil {
		return err
	}
	s.call = call
	if call.Object != "" || call.Collection != "" {
		return p.serveObject(w, r, s)
	}
	if call.List != listNone {
		if err := p.authorize(s); err != nil {
			return err
		}
		return p.serveList(w, s)
	}
	if err := p.readBody(w, r, s); err != nil {
		return err
	}
	if err := p.authorize(s); err != nil {
		return err
	}
	dep := p.deployments[s.call.Deployment]
	if dep == nil {
		return errDeploymentNotFound()
	}
	s.deployment = dep
	if err := checkServes(dep, s.call.Operation); err != nil {
		return err
	}
	if err := p.guardPrompt(s); err != nil {
		return err
	}
	if err := p.followPin(r.Context(), s); err != nil {
		return err
	}
	if err := p.admit(r.Context(), s); err != nil {
		return err
	}
	if err := p.admitBudget(r.Context(), s); err != nil {
		p.settle(r.Context(), s) // nothing was called: refund the limits
		s.reservation = nil
		return err
	}
	clearAnswerHeaders(w.Header())
	s.clientCtx = r.Context()
	p.proxy.ServeHTTP(w, r.WithContext(withScope(r.Context(), s)))
	flushAnswer(w, s)
	return nil
}

// flushAnswer hands the client what the proxy wrote, before finish runs:
// ReverseProxy does not flush an answer of known length (newProxy), and
// finish may wait (the limits' settle on Redis, up to its timeout), which
// the client would otherwise wait for too.
func flushAnswer(w http.ResponseWriter, s *scope) {
	if s.status == 499 {
		return // the client has gone, and nothing was written
	}
	_ = http.NewResponseController(w).Flush()
}

// readBody reads the bounded body, parses it and finds the deployment on
// surfaces that carry it in the body.
func (p *Pipeline) readBody(w http.ResponseWriter, r *http.Request, s *scope) error {
	body, err := p.readAll(w, r)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return errBodyTimeout(p.bodyTimeout, err)
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return httpx.Model(http.StatusRequestEntityTooLarge, httpx.KindClientTooLarge,
				fmt.Sprintf("Request body too large. The maximum size is %d bytes.", p.maxBody), "invalid_request_error", "", "request_too_large", err)
		}
		return httpx.Model(http.StatusBadRequest, httpx.KindClientCanceled,
			"Could not read the request body.", "invalid_request_error", "", "", err)
	}
	s.body = body
	if s.call.Operation.Multipart {
		model, err := multipartModel(r.Header.Get("Content-Type"), body)
		if err != nil {
			return httpx.Model(http.StatusBadRequest, httpx.KindClientBadRequest, err.Error(), "invalid_request_error", "", "", err)
		}
		s.req = &openai.Request{Model: model}
	} else {
		req, err := openai.ParseRequest(body)
		if err != nil {
			var param string // set when a member is ambiguous (duplicate or case variant)
			if fe := (*openai.FieldError)(nil); errors.As(err, &fe) {
				param = fe.Param
			}
			return httpx.Model(http.StatusBadRequest, httpx.KindClientBadRequest, err.Error(), "invalid_request_error", param, "", err)
		}
		s.req = req
	}
	if s.call.Surface != SurfaceLegacy || s.call.Deployment == "" { // v1, /v1, and legacy /openai/responses
		if s.req.Model == "" {
			return httpx.Model(http.StatusBadRequest, httpx.KindClientBadRequest,
				"you must provide a model parameter", "invalid_request_error", "model", "", errString("no model"))
		}
		s.call.Deployment = s.req.Model
	}
	return nil
}

// multipartModel reads the "model" field of a multipart body (v1 audio).
func multipartModel(contentType string, body []byte) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return "", errors.New("request must be multipart/form-data")
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return "", nil
		}
		if err != nil {
			return "", errors.New("malformed multipart body")
		}
		if part.FormName() == "model" {
			b, err := io.ReadAll(io.LimitReader(part, 256))
			if err != nil {
				return "", errors.New("malformed multipart body")
			}
			return strings.TrimSpace(string(b)), nil
		}
	}
}
