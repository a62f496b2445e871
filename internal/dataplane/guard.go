package dataplane

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/moat-gw/moat/internal/anthropic"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/redact"
)

// guardState is what the guardrails found during one call.
type guardState struct {
	hits   []string            // "direction:action:rule"
	stream *redact.StreamGuard // the completion guard of a streamed answer
	cut    bool                // a streamed answer was cut by a block rule
}

// column renders the hits for the request log's GuardrailHits.
func (g *guardState) column() string { return redact.JoinHits(g.hits) }

// note records a verdict's hits for the log and the metrics.
func (p *Pipeline) noteHits(s *scope, direction string, hits []string) {
	for _, h := range hits {
		action, rule, _ := strings.Cut(h, ":")
		s.guard.hits = append(s.guard.hits, direction+":"+h)
		p.metrics.guardHits.WithLabelValues(s.deployment.name, direction, action, rule).Inc()
	}
}

// guardPrompt applies the deployment's prompt guardrails to the request
// body, before any token is reserved: a block rule refuses the call with
// Azure's content-filter 400 (an invalid_request_error on the Anthropic
// surface), a mask rule rewrites the body sent upstream,
// a flag rule is only recorded. Multipart bodies (audio) are not checked.
func (p *Pipeline) guardPrompt(s *scope) error {
	g := p.protect.prompt[s.deployment.name]
	if g == nil || s.call.Operation.Multipart {
		return nil
	}
	v := g.Check(s.body)
	p.noteHits(s, "prompt", v.Hits)
	if v.Blocked != "" {
		cause := fmt.Errorf("guardrail %s blocked the prompt", v.Blocked)
		if s.api == openai.APIAnthropic {
			return httpx.New(http.StatusBadRequest, httpx.KindPolicyContentFilter,
				anthropic.ErrorBody(anthropic.TypeInvalidRequest, "The prompt was refused by a content policy ("+v.Blocked+")."), cause)
		}
		return httpx.New(http.StatusBadRequest, httpx.KindPolicyContentFilter, openai.PromptFilteredError(v.Blocked), cause)
	}
	if v.Body != nil {
		s.body = v.Body
	}
	return nil
}

// maxGuardedAnswer bounds the answer a completion guard reads whole; a
// larger one passes unchecked (and is flagged as such).
const maxGuardedAnswer = 8 << 20

// guardAnswer applies the completion guardrails. A JSON answer is read
// whole (it is not streamed anyway) and passed on, masked, or replaced by
// a content-filtered answer; a streamed answer is checked event by event
// by the SSE capture, through s.guard.stream.
func (p *Pipeline) guardAnswer(resp *http.Response, s *scope) error {
	g := p.protect.completion[s.deployment.name]
	if g == nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	ct := resp.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "text/event-stream") {
		s.guard.stream = g.Stream()
		if g.MasksOrBlocks() {
			resp.Header.Del("Content-Length") // a masked or cut stream changes length
			resp.ContentLength = -1
		}
		return nil
	}
	if !strings.HasPrefix(ct, "application/json") {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxGuardedAnswer+1))
	if err != nil {
		return err
	}
	if len(body) > maxGuardedAnswer {
		p.noteHits(s, "completion", []string{"flag:unchecked_too_large"})
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return nil
	}
	resp.Body.Close()
	v := g.Check(body)
	p.noteHits(s, "completion", v.Hits)
	switch {
	case v.Blocked != "" && s.api == openai.APIAnthropic:
		out, err := anthropic.Refused(body)
		if err != nil { // not a message: nothing of it may pass
			out = anthropic.ErrorBody(anthropic.TypeInvalidRequest, "The answer was withheld by a content policy ("+v.Blocked+").")
			resp.StatusCode, resp.Status = http.StatusBadRequest, "400 Bad Request"
			s.status = resp.StatusCode
		}
		body = out
	case v.Blocked != "":
		if out, err := openai.FilteredCompletion(body, v.Blocked); err == nil {
			body = out
		} else {
			// Not a chat or completions answer (Responses, embeddings…):
			// nothing of it may pass, so answer as for a filtered prompt.
			body = openai.PromptFilteredError(v.Blocked)
			resp.StatusCode, resp.Status = http.StatusBadRequest, "400 Bad Request"
			s.status = resp.StatusCode
		}
	case v.Body != nil:
		body = v.Body
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

// guardEvent checks one stream event's text with the completion guard. It
// returns the event to send instead (nil: unchanged): the masked event, or
// the final content_filter chunk when a block rule matched, after which
// the capture ends the stream.
func (s *scope) guardEvent(name, data []byte, text string) (rewrite []byte, cut bool) {
	sg := s.guard.stream
	if rule := sg.Feed([]byte(text)); rule != "" {
		s.guard.cut = true
		if s.api == openai.APIAnthropic {
			return anthropic.RefusalEvents(), true
		}
		return openai.FilteredChunk(data, rule), true
	}
	if m := sg.MaskEvent(data); m != nil {
		var b []byte
		if len(name) > 0 {
			b = append(append(append(b, "event: "...), name...), '\n')
		}
		b = append(append(append(b, "data: "...), m...), "\n\n"...)
		return b, false
	}
	return nil, false
}

// streamHits moves the stream guard's hits into the call's, once the
// stream is over.
func (p *Pipeline) streamHits(s *scope) {
	if s.guard.stream != nil {
		p.noteHits(s, "completion", s.guard.stream.Hits())
		s.guard.stream = nil
	}
}
