package simulator

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/tokens"
)

// Server is a simulated Azure OpenAI resource. It is an http.Handler.
type Server struct {
	opts        Options
	tc          *tokens.Counter
	log         *slog.Logger
	deployments map[string]*deployment
	order       []*deployment // as configured, for listings
	rnd         *lockedRand
	stats       counters
	responses   responseStore
	files       fileStore
	batches     batchStore
	prompts     promptCache // the Messages API's prompt cache
}

// deployment is a configured Deployment with what the server derives from it.
type deployment struct {
	Deployment
	// reported is the model name responses carry (Model-Version when a
	// version is set).
	reported    string
	fingerprint string
	vocab       vocabulary
	limiter     *limiter
}

// New validates opts and builds a Server. tc counts tokens for usage and
// the limiter; it is required. A nil logger discards.
func New(opts Options, tc *tokens.Counter, logger *slog.Logger) (*Server, error) {
	if tc == nil {
		return nil, errors.New("simulator: nil token counter")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("simulator options: %w", err)
	}
	s := &Server{
		opts:        opts,
		tc:          tc,
		log:         logger,
		deployments: make(map[string]*deployment, len(opts.Deployments)),
		rnd:         newLockedRand(opts.Seed),
	}
	vocabs := map[string]vocabulary{}
	for _, d := range opts.Deployments {
		dep := &deployment{
			Deployment:  d,
			reported:    d.Model,
			fingerprint: fingerprint(d.Model),
			limiter:     newLimiter(d.TPM, d.RPM),
		}
		if d.Version != "" {
			dep.reported = d.Model + "-" + d.Version
		}
		if d.Kind != KindEmbeddings {
			enc := tc.Encoding(d.Model)
			v, ok := vocabs[enc]
			if !ok {
				v = newVocabulary(tc, d.Model)
				if len(v.lower) < 16 {
					return nil, fmt.Errorf("simulator: tokenizer %s for deployment %q keeps only %d words", enc, d.Name, len(v.lower))
				}
				vocabs[enc] = v
			}
			dep.vocab = v
		}
		s.deployments[d.Name] = dep
		s.order = append(s.order, dep)
	}
	return s, nil
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// Deployments returns the deployments served, with defaults filled in, so
// that a command can announce what it simulates.
func (s *Server) Deployments() []Deployment {
	out := make([]Deployment, len(s.order))
	for i, d := range s.order {
		out[i] = d.Deployment
	}
	return out
}

// surface is which URL family a request used.
type surface int

const (
	surfaceLegacy surface = iota // /openai/deployments/{d}/{op}?api-version=
	surfaceV1                    // /openai/v1/{op}
	surfaceOpenAI                // /v1/{op}
)

// route is a parsed request path.
type route struct {
	surface    surface
	op         openai.Operation
	deployment string // legacy surface only
	apiVersion string
	models     bool // a model listing
	// responses is set for the Responses API; responseID and
	// responseAction ("cancel", "input_items") for calls on one response.
	responses      bool
	responseID     string
	responseAction string
	// collection is "files" or "batches" for those APIs, with objectID and
	// objectAction ("content", "cancel") for calls on one object.
	collection   string
	objectID     string
	objectAction string
}

// ServeHTTP answers like Azure OpenAI: authentication, routing, deployment
// lookup, rate limits, then the simulated model (wire reference §2.12).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.stats.requests.Add(1)
	if rt, ok := parseAnthropicRoute(r.URL.Path); ok {
		s.serveAnthropic(w, r, rt)
		return
	}
	h := w.Header()
	h.Set("apim-request-id", s.rnd.uuid())
	h.Set("x-request-id", s.rnd.uuid())
	h.Set("x-ms-region", s.opts.Region)
	if id := r.Header.Get("x-ms-client-request-id"); id != "" {
		h.Set("x-ms-client-request-id", id)
	}
	h.Set("strict-transport-security", "max-age=31536000; includeSubDomains; preload")
	h.Set("x-content-type-options", "nosniff")

	if !s.authorized(r) {
		writeJSON(w, http.StatusUnauthorized, openai.FrontDoorErrorCompact("401", openai.MsgInvalidKey))
		return
	}
	rt, status, body := parseRoute(r)
	if status != 0 {
		writeJSON(w, status, body)
		return
	}
	if rt.models {
		s.serveModels(w, rt)
		return
	}
	if rt.responses {
		s.serveResponses(w, r, rt)
		return
	}
	switch rt.collection {
	case "files":
		s.serveFiles(w, r, rt)
		return
	case "batches":
		s.serveBatches(w, r, rt)
		return
	}
	s.serveOperation(w, r, rt)
}

// authorized checks Options.APIKey against api-key or Authorization: Bearer.
func (s *Server) authorized(r *http.Request) bool {
	if s.opts.APIKey == "" {
		return true
	}
	want := []byte(s.opts.APIKey)
	if k := r.Header.Get("api-key"); k != "" {
		return subtle.ConstantTimeCompare([]byte(k), want) == 1
	}
	auth := r.Header.Get("Authorization")
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(auth[7:])), want) == 1
	}
	return false
}

// servedOperation finds the operations the simulator serves, by path suffix.
func servedOperation(suffix string) (openai.Operation, bool) {
	switch suffix {
	case "chat/completions", "completions", "embeddings", "images/generations",
		"audio/transcriptions", "audio/translations", "audio/speech":
		return openai.LookupOperation(suffix)
	}
	return openai.Operation{}, false
}

// parseRoute maps a request to a route, or to the status and body Azure
// answers for a path it does not serve.
func parseRoute(r *http.Request) (route, int, []byte) {
	notFound := openai.FrontDoorError("404", openai.MsgResourceNotFound)
	p := r.URL.Path
	version := r.URL.Query().Get("api-version")
	var rt route
	switch {
	case strings.HasPrefix(p, "/openai/deployments/"):
		rest := strings.TrimPrefix(p, "/openai/deployments/")
		name, suffix, ok := strings.Cut(rest, "/")
		op, served := servedOperation(suffix)
		if !ok || name == "" || !served || r.Method != http.MethodPost || !validAPIVersion(version) {
			return rt, http.StatusNotFound, notFound
		}
		return route{surface: surfaceLegacy, op: op, deployment: name, apiVersion: version}, 0, nil
	case p == "/openai/responses" || strings.HasPrefix(p, "/openai/responses/"):
		if !validAPIVersion(version) {
			return rt, http.StatusNotFound, notFound
		}
		rt = route{surface: surfaceLegacy, apiVersion: version}
		if !responsesRoute(&rt, r.Method, strings.TrimPrefix(p, "/openai/")) {
			return rt, http.StatusNotFound, notFound
		}
		return rt, 0, nil
	case strings.HasPrefix(p, "/openai/files") || strings.HasPrefix(p, "/openai/batches"):
		if !validAPIVersion(version) {
			return rt, http.StatusNotFound, notFound
		}
		rt = route{surface: surfaceLegacy, apiVersion: version}
		if !objectRoute(&rt, r.Method, strings.TrimPrefix(p, "/openai/")) {
			return rt, http.StatusNotFound, notFound
		}
		return rt, 0, nil
	case p == "/openai/models":
		if r.Method != http.MethodGet || !validAPIVersion(version) {
			return rt, http.StatusNotFound, notFound
		}
		return route{surface: surfaceLegacy, models: true, apiVersion: version}, 0, nil
	case strings.HasPrefix(p, "/openai/v1/"):
		switch version {
		case "", "v1", "preview", "latest":
		default:
			return rt, http.StatusBadRequest, openai.FrontDoorErrorCompact("BadRequest", openai.MsgAPIVersionNotSupp)
		}
		if version == "" {
			version = "v1"
		}
		rt = route{surface: surfaceV1, apiVersion: version}
		p = strings.TrimPrefix(p, "/openai/v1/")
	case strings.HasPrefix(p, "/v1/"):
		rt = route{surface: surfaceOpenAI, apiVersion: "v1"}
		p = strings.TrimPrefix(p, "/v1/")
	default:
		return rt, http.StatusNotFound, notFound
	}
	if p == "models" && r.Method == http.MethodGet {
		rt.models = true
		return rt, 0, nil
	}
	if objectRoute(&rt, r.Method, p) {
		return rt, 0, nil
	}
	if rt.collection != "" {
		return rt, http.StatusNotFound, notFound
	}
	if p == "responses" || strings.HasPrefix(p, "responses/") {
		if !responsesRoute(&rt, r.Method, p) {
			return rt, http.StatusNotFound, notFound
		}
		return rt, 0, nil
	}
	op, served := servedOperation(p)
	if !served || r.Method != http.MethodPost {
		return rt, http.StatusNotFound, notFound
	}
	rt.op = op
	return rt, 0, nil
}

// responsesRoute parses "responses[/{id}[/cancel|/input_items]]" with its
// method into rt; false when it is not a Responses API call.
func responsesRoute(rt *route, method, p string) bool {
	rest := strings.TrimPrefix(strings.TrimPrefix(p, "responses"), "/")
	id, action, _ := strings.Cut(rest, "/")
	rt.responses, rt.responseID, rt.responseAction = true, id, action
	switch {
	case id == "":
		return method == http.MethodPost
	case action == "":
		return method == http.MethodGet || method == http.MethodDelete
	case action == "cancel":
		return method == http.MethodPost
	case action == "input_items":
		return method == http.MethodGet
	}
	return false
}

// objectRoute parses "files[/{id}[/content]]" and "batches[/{id}[/cancel]]"
// with its method into rt; false when it is not one of them (rt.collection
// is set when the collection matched but the rest did not).
func objectRoute(rt *route, method, p string) bool {
	collection, rest, _ := strings.Cut(p, "/")
	if collection != "files" && collection != "batches" {
		return false
	}
	rt.collection = collection
	id, action, _ := strings.Cut(rest, "/")
	rt.objectID, rt.objectAction = id, action
	switch {
	case id == "":
		return method == http.MethodPost || method == http.MethodGet
	case action == "":
		return method == http.MethodGet || (collection == "files" && method == http.MethodDelete)
	case collection == "files" && action == "content", collection == "batches" && action == "cancel":
		return method == http.MethodGet && action == "content" || method == http.MethodPost && action == "cancel"
	}
	return false
}

// validAPIVersion accepts the dated form YYYY-MM-DD with an optional
// -preview suffix (§1.3). Unknown but well-formed dates are accepted, so new
// client versions work without a simulator update.
func validAPIVersion(v string) bool {
	v = strings.TrimSuffix(v, "-preview")
	if len(v) != 10 || v[4] != '-' || v[7] != '-' {
		return false
	}
	for i, c := range v {
		if i == 4 || i == 7 {
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// writeJSON sends a complete JSON answer.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	writeBody(w, status, "application/json", body)
}

// writeBody sends a complete answer of the given content type.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
