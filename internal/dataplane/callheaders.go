package dataplane

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/moat-gw/moat/internal/reqlog"
)

// The headers the request log keeps of a call (reqlog.Record.Headers), for
// the studio's call detail. Both lists are allow-lists: a header is kept
// only when named here, so a credential (api-key, authorization,
// x-api-key, cookie, set-cookie, a proxy's auth) can never be, whatever a
// client or an upstream invents. How the caller authenticated is the
// AuthType column.
var (
	// logRequestHeaders identify the client and what it asked for.
	logRequestHeaders = []string{
		"User-Agent", "X-Ms-Useragent", "X-Ms-Client-Request-Id", "Content-Type", "Accept",
		"Anthropic-Version", "Anthropic-Beta", "Openai-Beta",
		"X-Stainless-Lang", "X-Stainless-Package-Version", "X-Stainless-Runtime", "X-Stainless-Retry-Count",
		"Traceparent",
	}
	// logResponseHeaders are the answer's correlation IDs, limits and
	// retry advice, as the client received them (after upstreamHeaders
	// scrubbed the upstream account's identifiers).
	logResponseHeaders = []string{
		"Content-Type", "X-Request-Id", "Apim-Request-Id", "Request-Id", "Upstream-Request-Id",
		"X-Ms-Client-Request-Id", "X-Ms-Region", "X-Ms-Deployment-Name",
		"X-Ratelimit-Remaining-Requests", "X-Ratelimit-Remaining-Tokens", "Retry-After", "Retry-After-Ms",
	}
)

// callHeaders renders the allow-listed headers of req and resp as the
// Headers column: {"req":{...},"resp":{...}}, names in lower case, values
// joined with ", " and cut to reqlog.MaxHeaderValueBytes; "" when neither
// side has any.
func callHeaders(req, resp http.Header) string {
	var col struct {
		Req  map[string]string `json:"req,omitempty"`
		Resp map[string]string `json:"resp,omitempty"`
	}
	col.Req = pickHeaders(req, logRequestHeaders)
	col.Resp = pickHeaders(resp, logResponseHeaders)
	if col.Req == nil && col.Resp == nil {
		return ""
	}
	// Map keys come sorted, so the column is stable; HTML is not escaped,
	// so a value of '<' cannot grow sixfold past the column's bound.
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(col); err != nil {
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func pickHeaders(h http.Header, names []string) map[string]string {
	var m map[string]string
	for _, k := range names {
		v := h.Values(k)
		if len(v) == 0 {
			continue
		}
		if m == nil {
			m = make(map[string]string)
		}
		m[strings.ToLower(k)] = reqlog.Truncated(strings.Join(v, ", "), reqlog.MaxHeaderValueBytes)
	}
	return m
}
