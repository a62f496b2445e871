package dataplane

import (
	"net/http"
	"strconv"

	"github.com/moat-gw/moat/internal/openai"
)

// The headers moat sets on answers, all here: Azure's correlation headers
// on every answer (moat's own and the upstream's), Anthropic's request-id
// on the Claude surface, and moat's remaining limits on answers from the
// upstream.

// commonHeaders are the headers setCommonHeaders writes.
var commonHeaders = []string{"Apim-Request-Id", "X-Request-Id", "X-Ms-Region", "Strict-Transport-Security", "X-Ms-Client-Request-Id"}

// hstsValue is the Strict-Transport-Security value of every answer, one
// slice shared by all (its capacity is its length): net/http only reads
// header values, and Header.Set and Add replace or regrow them, never
// write into them. The region's value (Pipeline.regionValue) is shared the
// same way.
var hstsValue = []string{"max-age=31536000; includeSubDomains; preload"}[:1:1]

// idValue is the value of the headers that carry the request ID, one
// slice for both, for the same reason.
func idValue(id string) []string { return []string{id}[:1:1] }

// idValue is the call's request ID as a header value, made once for the
// answer moat writes and the upstream's answer alike.
func (s *scope) idValue() []string {
	if s.idHeader == nil {
		s.idHeader = idValue(s.id)
	}
	return s.idHeader
}

// setCommonHeaders sets the headers Azure sends on every answer, including
// front-door errors, so moat's denials look like Azure's.
func setCommonHeaders(h http.Header, id string, region []string) {
	setCommonHeaderValues(h, idValue(id), region)
}

// setCommonHeaderValues is setCommonHeaders with the request ID already a
// header value (scope.idValue).
func setCommonHeaderValues(h http.Header, ids, region []string) {
	h["Apim-Request-Id"] = ids
	h["X-Request-Id"] = ids
	h["X-Ms-Region"] = region
	h["Strict-Transport-Security"] = hstsValue
}

// answerHeaders sets the correlation headers on an answer moat writes
// itself (an error, a listing, whoami), echoing the client's
// x-ms-client-request-id.
func (p *Pipeline) answerHeaders(h http.Header, s *scope) {
	setCommonHeaderValues(h, s.idValue(), p.regionValue)
	if s.api == openai.APIAnthropic {
		h.Set("Request-Id", s.id) // where Anthropic's SDKs read the request ID
	}
	if s.clientRequestID != "" {
		h.Set("X-Ms-Client-Request-Id", s.clientRequestID)
	}
}

// clearAnswerHeaders removes what answerHeaders set before a call goes to
// the upstream: ReverseProxy adds the upstream's headers to these rather
// than replacing them; upstreamHeaders (or proxyError) sets them instead.
func clearAnswerHeaders(h http.Header) {
	for _, k := range commonHeaders {
		h.Del(k)
	}
	h.Del("Request-Id")
}

// upstreamHeaders fixes the headers of the upstream's answer: what must
// not reach the client goes, moat's request ID is the correlation ID (the
// client, the log and the upstream's own ID, kept when present, can all be
// joined on it), and the client is told what moat's limits have left.
func (p *Pipeline) upstreamHeaders(h http.Header, s *scope) {
	h.Del("Set-Cookie")
	if t := s.member.target; t != nil {
		t.ScrubHeader(h) // the upstream account's identifiers stay inside moat
	}
	ids := s.idValue()
	h["Apim-Request-Id"] = ids
	if h.Get("X-Request-Id") == "" {
		h["X-Request-Id"] = ids
	}
	if h.Get("X-Ms-Region") == "" {
		h["X-Ms-Region"] = p.regionValue
	}
	if h.Get("Strict-Transport-Security") == "" {
		h["Strict-Transport-Security"] = hstsValue
	}
	if s.clientRequestID != "" {
		setIfAbsent(h, "X-Ms-Client-Request-Id", s.clientRequestID)
	}
	if s.api == openai.APIAnthropic {
		// moat's ID is the one the client's SDK reports; the upstream's
		// own is kept beside it.
		if v := h.Get("Request-Id"); v != "" {
			h.Set("Upstream-Request-Id", v)
		}
		h.Set("Request-Id", s.id)
	}
	if res := s.reservation; res != nil {
		// The client is held to moat's limits: report what moat has left.
		if res.RemainingTokens >= 0 {
			h.Set("X-Ratelimit-Remaining-Tokens", strconv.Itoa(res.RemainingTokens))
		}
		if res.RemainingRequests >= 0 {
			h.Set("X-Ratelimit-Remaining-Requests", strconv.Itoa(res.RemainingRequests))
		}
	}
}

func setIfAbsent(h http.Header, k, v string) {
	if h.Get(k) == "" {
		h.Set(k, v)
	}
}
