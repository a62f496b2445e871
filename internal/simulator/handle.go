package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/moat-gw/moat/internal/openai"
)

// maxBody bounds a request body; Azure's own limit is of the same order.
const maxBody = 32 << 20

// msgBadJSON is OpenAI's answer to a body that is not JSON.
const msgBadJSON = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"

// msgOperationNotSupported is Azure's answer to an operation the deployment's
// model cannot serve (embeddings on a chat model and so on).
const msgOperationNotSupported = "The %s operation does not work with the specified model, %s. Please choose different model and try again. You can learn more about which models can be used with each operation here: https://go.microsoft.com/fwlink/?linkid=2197993."

// serveOperation runs one inference request: deployment lookup, body
// parsing, kind check, rate limits, validation, faults, then the answer.
func (s *Server) serveOperation(w http.ResponseWriter, r *http.Request, rt route) {
	var dep *deployment
	if rt.surface == surfaceLegacy {
		if dep = s.deployments[rt.deployment]; dep == nil {
			writeJSON(w, http.StatusNotFound, openai.FrontDoorErrorCompact("DeploymentNotFound", openai.MsgDeploymentNotFound))
			return
		}
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req *openai.Request
	var form *multipartForm
	if rt.op.Multipart {
		var bad []byte
		if form, bad = parseMultipart(r.Header.Get("Content-Type"), body); bad != nil {
			writeJSON(w, http.StatusBadRequest, bad)
			return
		}
		req = &openai.Request{Model: form.values["model"]}
	} else {
		if !json.Valid(body) {
			writeJSON(w, http.StatusBadRequest, modelError(msgBadJSON, "invalid_request_error", "", ""))
			return
		}
		var err error
		if req, err = openai.ParseRequest(body); err != nil {
			writeJSON(w, http.StatusBadRequest, modelError(err.Error(), "invalid_request_error", "", ""))
			return
		}
	}
	if dep == nil {
		if req.Model == "" {
			writeJSON(w, http.StatusBadRequest, modelError("you must provide a model parameter", "invalid_request_error", "", ""))
			return
		}
		if dep = s.deployments[req.Model]; dep == nil {
			writeJSON(w, http.StatusNotFound, openai.FrontDoorErrorCompact("DeploymentNotFound", openai.MsgDeploymentNotFound))
			return
		}
	}
	if !dep.serves(rt.op) {
		writeJSON(w, http.StatusBadRequest, openai.FrontDoorError("OperationNotSupported",
			fmt.Sprintf(msgOperationNotSupported, azureOperationName(rt.op), dep.Model)))
		return
	}

	now := s.opts.Now()
	if s.rnd.hit(s.opts.Faults.RateLimitRate) {
		s.stats.injectedRateLimits.Add(1)
		setRateHeaders(w.Header(), dep, 0, 0)
		s.writeRateLimited(w, rt, "token", time.Duration(1+s.rnd.intN(10))*time.Second)
		return
	}
	promptTokens := s.tc.Prompt(dep.Model, req)
	v := dep.limiter.admit(now, s.estimate(dep, rt.op, req, promptTokens))
	setRateHeaders(w.Header(), dep, v.remainingTokens, v.remainingRequests)
	if v.limited != "" {
		s.stats.rateLimited.Add(1)
		s.writeRateLimited(w, rt, v.limited, v.retryAfter)
		return
	}

	var serve func()
	var bad []byte
	switch rt.op.Name {
	case "embeddings":
		var e *embeddingJob
		if e, bad = s.planEmbeddings(dep, req, body, promptTokens); e != nil {
			serve = func() { s.serveEmbeddings(w, r, e) }
		}
	case "images":
		var job *imageJob
		if job, bad = s.planImages(dep, body); job != nil {
			serve = func() { s.serveImages(w, r, job) }
		}
	case "transcriptions", "translations":
		var job *transcriptionJob
		if job, bad = s.planTranscription(dep, rt.op, form); job != nil {
			serve = func() { s.serveTranscription(w, r, job) }
		}
	case "speech":
		var job *speechJob
		if job, bad = s.planSpeech(dep, body); job != nil {
			serve = func() { s.serveSpeech(w, r, job) }
		}
	default:
		var g *generation
		if g, bad = s.planGeneration(dep, rt.op, req, body, promptTokens); g != nil {
			serve = func() { s.serveGeneration(w, r, g) }
		}
	}
	if bad != nil {
		writeJSON(w, http.StatusBadRequest, bad)
		return
	}
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
		writeJSON(w, http.StatusInternalServerError, openai.FrontDoorError("InternalServerError", openai.MsgInternalError))
		return
	}
	serve()
}

// readBody reads a request body up to maxBody. Over it, the client gets
// Azure's 413; a client that left mid-body is counted as canceled. ok is
// false when the call is over.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (body []byte, ok bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, openai.FrontDoorError("413", "The request body is too large."))
			return nil, false
		}
		s.stats.canceled.Add(1)
		return nil, false
	}
	return body, true
}

// serves reports whether the deployment's kind serves op.
func (d *deployment) serves(op openai.Operation) bool {
	switch op.Name {
	case "chat":
		return d.Kind == KindChat
	case "completions":
		return d.Kind == KindCompletions
	case "embeddings":
		return d.Kind == KindEmbeddings
	case "images":
		return d.Kind == KindImages
	case "transcriptions", "translations":
		return d.Kind == KindTranscription
	case "speech":
		return d.Kind == KindSpeech
	}
	return false
}

// azureOperationName is the operation's name in Azure's
// OperationNotSupported message.
func azureOperationName(op openai.Operation) string {
	switch op.Name {
	case "chat":
		return "chatCompletion"
	case "completions":
		return "completion"
	}
	return op.Name
}

// estimate is the admission cost Azure counts against TPM: the prompt
// estimate plus the completion allowance (max_tokens times n, or a default).
func (s *Server) estimate(dep *deployment, op openai.Operation, req *openai.Request, promptTokens int) int {
	switch op.Name {
	case "embeddings", "images", "transcriptions", "translations", "speech":
		return promptTokens // no completion allowance: these produce no tokens
	}
	if c := req.OutputCap(); c > 0 {
		return promptTokens + c
	}
	n := 1
	if req.N != nil && *req.N > 1 {
		n = *req.N
	}
	return promptTokens + s.opts.DefaultMaxTokens*n
}

// setRateHeaders reports the limiter's view; an unlimited dimension has no
// headers, since Azure has no such thing to report.
func setRateHeaders(h http.Header, dep *deployment, remainingTokens, remainingRequests int) {
	if dep.RPM > 0 {
		h.Set("x-ratelimit-limit-requests", strconv.Itoa(dep.RPM))
		h.Set("x-ratelimit-remaining-requests", strconv.Itoa(max(remainingRequests, 0)))
	}
	if dep.TPM > 0 {
		h.Set("x-ratelimit-limit-tokens", strconv.Itoa(dep.TPM))
		h.Set("x-ratelimit-remaining-tokens", strconv.Itoa(max(remainingTokens, 0)))
	}
}

// writeRateLimited answers Azure's 429 (§2.9). kind is "token" or "call".
func (s *Server) writeRateLimited(w http.ResponseWriter, rt route, kind string, retry time.Duration) {
	ms := max(int64(math.Ceil(float64(retry)/float64(time.Millisecond))), 1)
	secs := int((ms + 999) / 1000)
	h := w.Header()
	h.Set("retry-after", strconv.Itoa(secs))
	h.Set("retry-after-ms", strconv.FormatInt(ms, 10))
	if kind == "call" {
		h.Set("policy-id", "DeploymentRatelimit-Call")
	} else {
		h.Set("policy-id", "DeploymentRatelimit-Token")
	}
	s.log.Debug("simulator: rate limited", "kind", kind, "retry_after_s", secs)
	writeJSON(w, http.StatusTooManyRequests,
		openai.FrontDoorError("429", openai.RateLimitMessage(rt.op.ID, rt.apiVersion, kind, secs)))
}

// wait sleeps d with jitter, reporting false when the client went away.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	ctx := r.Context()
	if d > 0 {
		if err := s.opts.Sleep(ctx, s.rnd.jitter(d, s.opts.Latency.Jitter)); err != nil {
			return false
		}
	}
	return ctx.Err() == nil
}

// perToken is the time one token takes after the first.
func (s *Server) perToken() time.Duration {
	if s.opts.Latency.TokensPerSecond <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / s.opts.Latency.TokensPerSecond)
}

// modelError renders OpenAI's validation envelope like openai.ModelError,
// but without HTML escaping: OpenAI writes "Expected a value >= 1" with a raw
// ">", and encoding/json would send \u003e.
func modelError(message, typ, param, code string) []byte {
	nullable := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	type body struct {
		Message string  `json:"message"`
		Type    *string `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		Error body `json:"error"`
	}{body{Message: message, Type: nullable(typ), Param: nullable(param), Code: nullable(code)}})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
