package simulator

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Anthropic Messages API, as Anthropic serves it on /v1/messages and
// Azure AI Foundry on /anthropic/v1/messages. The deployment is the body's
// model, as on Foundry; it must be of KindMessages.

// anthropicRoute is a parsed Messages API path.
type anthropicRoute struct {
	foundry bool // /anthropic/v1/…: Foundry's shape, which also sends Azure's headers
	count   bool // …/messages/count_tokens
	unknown bool // another path under /anthropic/: 404
}

// parseAnthropicRoute recognizes the Messages API paths, whatever the method.
func parseAnthropicRoute(p string) (anthropicRoute, bool) {
	var rt anthropicRoute
	if rest, ok := strings.CutPrefix(p, "/anthropic"); ok {
		rt.foundry, p = true, rest
	}
	switch p {
	case "/v1/messages":
		return rt, true
	case "/v1/messages/count_tokens":
		rt.count = true
		return rt, true
	}
	rt.unknown = true
	return rt, rt.foundry && (p == "" || strings.HasPrefix(p, "/"))
}

// Anthropic error messages. Where Anthropic's exact text is not captured,
// the text is moat's choice in Anthropic's style.
const (
	msgAnthropicNoKey      = "x-api-key header is required"
	msgAnthropicBadKey     = "invalid x-api-key"
	msgAnthropicNoVersion  = "anthropic-version: header is required"
	msgAnthropicNotFound   = "Not Found"
	msgAnthropicTooLarge   = "Request exceeds the maximum allowed number of bytes."
	msgAnthropicOverloaded = "Overloaded"
)

// serveAnthropic answers one Messages API call, in the API's order:
// path, authentication, anthropic-version, body, model, validation, rate
// limits, then faults and the answer.
func (s *Server) serveAnthropic(w http.ResponseWriter, r *http.Request, rt anthropicRoute) {
	h := w.Header()
	h.Set("request-id", s.rnd.anthropicID("req_011C", 20))
	if rt.foundry {
		h.Set("apim-request-id", s.rnd.uuid())
		h.Set("x-ms-region", s.opts.Region)
	}
	if r.Method != http.MethodPost || rt.unknown {
		s.anthropicError(w, &msgError{http.StatusNotFound, "not_found_error", msgAnthropicNotFound})
		return
	}
	if bad := s.anthropicAuth(r); bad != nil {
		s.anthropicError(w, bad)
		return
	}
	if v := r.Header.Get("anthropic-version"); v == "" {
		s.anthropicError(w, invalid(msgAnthropicNoVersion))
		return
	} else if !validAnthropicVersion(v) {
		s.anthropicError(w, invalid("anthropic-version: invalid version %q", v))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.anthropicError(w, &msgError{http.StatusRequestEntityTooLarge, "request_too_large", msgAnthropicTooLarge})
			return
		}
		s.stats.canceled.Add(1)
		return
	}
	req, bad := parseMessages(body, rt.count)
	if bad != nil {
		s.anthropicError(w, bad)
		return
	}
	dep := s.deployments[req.model]
	if dep == nil || dep.Kind != KindMessages {
		s.anthropicError(w, &msgError{http.StatusNotFound, "not_found_error", "model: " + req.model})
		return
	}
	inputTokens := s.msgInputTokens(dep, req)
	if bad := checkContext(dep, req, inputTokens); bad != nil {
		s.anthropicError(w, bad)
		return
	}
	if rt.count {
		b, _ := json.Marshal(struct {
			InputTokens int `json:"input_tokens"`
		}{inputTokens})
		writeJSON(w, http.StatusOK, b)
		return
	}

	now := s.opts.Now()
	if s.rnd.hit(s.opts.Faults.RateLimitRate) {
		s.stats.injectedRateLimits.Add(1)
		s.anthropicRateLimited(w, dep, now, "token", time.Duration(1+s.rnd.intN(10))*time.Second, 0, 0)
		return
	}
	v := dep.limiter.admit(now, inputTokens+req.maxTokens)
	if v.limited != "" {
		s.stats.rateLimited.Add(1)
		s.anthropicRateLimited(w, dep, now, v.limited, v.retryAfter, v.remainingTokens, v.remainingRequests)
		return
	}
	setAnthropicRateHeaders(h, dep, now, v.remainingTokens, v.remainingRequests)

	if s.rnd.hit(s.opts.Faults.TimeoutRate) {
		s.stats.injectedTimeouts.Add(1)
		s.log.Debug("simulator: injected timeout", "deployment", dep.Name)
		<-r.Context().Done()
		s.stats.canceled.Add(1)
		return
	}
	if s.rnd.hit(s.opts.Faults.ErrorRate) {
		s.stats.injectedErrors.Add(1)
		s.log.Debug("simulator: injected error", "deployment", dep.Name)
		s.anthropicError(w, &msgError{529, "overloaded_error", msgAnthropicOverloaded})
		return
	}
	a := s.planMessage(dep, req, s.cacheUsage(dep, req, inputTokens, now))
	if req.stream {
		s.streamMessage(w, r, a)
		return
	}
	s.serveMessage(w, r, a)
}

// anthropicAuth checks Options.APIKey against x-api-key (Anthropic and
// Foundry), api-key (Foundry) or Authorization: Bearer (a Foundry Entra
// token, or an Anthropic auth token). With no APIKey any key, or none, is
// accepted, as on the OpenAI surfaces.
func (s *Server) anthropicAuth(r *http.Request) *msgError {
	if s.opts.APIKey == "" {
		return nil
	}
	got := r.Header.Get("x-api-key")
	if got == "" {
		got = r.Header.Get("api-key")
	}
	if auth := r.Header.Get("Authorization"); got == "" && len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		got = strings.TrimSpace(auth[7:])
	}
	if got == "" {
		return &msgError{http.StatusUnauthorized, "authentication_error", msgAnthropicNoKey}
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.APIKey)) != 1 {
		return &msgError{http.StatusUnauthorized, "authentication_error", msgAnthropicBadKey}
	}
	return nil
}

// validAnthropicVersion accepts a dated version YYYY-MM-DD from the first
// one (2023-01-01) on. The API knows a list of dates; new SDKs send new
// ones (anthropic-sdk-go v2 sends 2026-10-21), so the simulator takes any
// well-formed date rather than lag behind them.
func validAnthropicVersion(v string) bool {
	return validAPIVersion(v) && !strings.HasSuffix(v, "-preview") && v >= "2023-01-01"
}

// anthropicError writes Anthropic's error envelope with the request's id.
func (s *Server) anthropicError(w http.ResponseWriter, e *msgError) {
	type inner struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	b := marshalJSON(struct {
		Type      string `json:"type"`
		Error     inner  `json:"error"`
		RequestID string `json:"request_id"`
	}{"error", inner{e.typ, e.message}, w.Header().Get("request-id")})
	writeJSON(w, e.status, []byte(b))
}

// contextWindow is the tokens of prompt and output a Claude model holds.
const contextWindow = 200_000

// maxOutputTokens is the largest max_tokens a model accepts, by family.
func maxOutputTokens(model string) int {
	m := strings.ToLower(model)
	switch {
	case strings.Contains(m, "claude-3-haiku"), strings.Contains(m, "claude-3-opus"):
		return 4096
	case strings.Contains(m, "claude-3-5"):
		return 8192
	case strings.Contains(m, "opus-4-0"), strings.Contains(m, "opus-4-1"), strings.Contains(m, "claude-opus-4-2025"):
		return 32_000
	}
	return 64_000
}

// checkContext refuses max_tokens above the model's output limit and
// prompts that do not fit the context window.
func checkContext(dep *deployment, req *msgRequest, inputTokens int) *msgError {
	if limit := maxOutputTokens(dep.Model); req.maxTokens > limit {
		return invalid("max_tokens: %d > %d, which is the maximum allowed number of output tokens for %s", req.maxTokens, limit, dep.reported)
	}
	if inputTokens > contextWindow {
		return invalid("prompt is too long: %d tokens > %d maximum", inputTokens, contextWindow)
	}
	if inputTokens+req.maxTokens > contextWindow {
		return invalid("input length and `max_tokens` exceed context limit: %d + %d > %d, decrease input length or `max_tokens` and try again", inputTokens, req.maxTokens, contextWindow)
	}
	return nil
}

// setAnthropicRateHeaders reports the limiter's view in Anthropic's
// headers; an unlimited dimension sends none.
func setAnthropicRateHeaders(h http.Header, dep *deployment, now time.Time, remainingTokens, remainingRequests int) {
	reset := now.Add(window).UTC().Format(time.RFC3339)
	if dep.RPM > 0 {
		h.Set("anthropic-ratelimit-requests-limit", strconv.Itoa(dep.RPM))
		h.Set("anthropic-ratelimit-requests-remaining", strconv.Itoa(max(remainingRequests, 0)))
		h.Set("anthropic-ratelimit-requests-reset", reset)
	}
	if dep.TPM > 0 {
		h.Set("anthropic-ratelimit-tokens-limit", strconv.Itoa(dep.TPM))
		h.Set("anthropic-ratelimit-tokens-remaining", strconv.Itoa(max(remainingTokens, 0)))
		h.Set("anthropic-ratelimit-tokens-reset", reset)
	}
}

// anthropicRateLimited answers Anthropic's 429 with retry-after.
func (s *Server) anthropicRateLimited(w http.ResponseWriter, dep *deployment, now time.Time, kind string, retry time.Duration, remainingTokens, remainingRequests int) {
	secs := max(int(math.Ceil(retry.Seconds())), 1)
	h := w.Header()
	setAnthropicRateHeaders(h, dep, now, remainingTokens, remainingRequests)
	h.Set("retry-after", strconv.Itoa(secs))
	what := "tokens"
	if kind == "call" {
		what = "requests"
	}
	s.log.Debug("simulator: rate limited", "kind", kind, "retry_after_s", secs)
	s.anthropicError(w, &msgError{http.StatusTooManyRequests, "rate_limit_error",
		fmt.Sprintf("This request would exceed the %s-per-minute rate limit of deployment %s. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.", what, dep.Name)})
}
