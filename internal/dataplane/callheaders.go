package dataplane

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

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
	logRequestCols  = headerCols(logRequestHeaders)
	logResponseCols = headerCols(logResponseHeaders)
)

// headerCol is one allow-listed header: its canonical name, the key of
// http.Header, and its member name in the column, in lower case.
type headerCol struct{ canon, member string }

// headerCols orders the allow-list by member name, the order a JSON
// encoding of a map gives, so that the column is stable.
func headerCols(names []string) []headerCol {
	cols := make([]headerCol, len(names))
	for i, k := range names {
		cols[i] = headerCol{canon: http.CanonicalHeaderKey(k), member: strings.ToLower(k)}
	}
	slices.SortFunc(cols, func(a, b headerCol) int { return strings.Compare(a.member, b.member) })
	return cols
}

// headerBufs recycles the buffers the column is written in: every call
// writes one, and the column is copied out as a string.
var headerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// callHeaders renders the allow-listed headers of req and resp as the
// Headers column: {"req":{...},"resp":{...}}, names in lower case and in
// order, values joined with ", " and cut to reqlog.MaxHeaderValueBytes,
// encoded as encoding/json encodes a string without HTML escaping (so a
// value of '<' cannot grow sixfold past the column's bound); "" when
// neither side has any. It is written straight into a pooled buffer: it
// runs on every call.
func callHeaders(req, resp http.Header) string {
	bp := headerBufs.Get().(*[]byte)
	b := append((*bp)[:0], '{')
	b, reqKept := appendHeaderSide(b, `"req":`, req, logRequestCols)
	side := `"resp":`
	if reqKept {
		side = `,"resp":`
	}
	b, respKept := appendHeaderSide(b, side, resp, logResponseCols)
	col := ""
	if reqKept || respKept {
		col = string(append(b, '}'))
	}
	if cap(b) <= 16<<10 { // a hostile client's headers do not stay pooled
		*bp = b
		headerBufs.Put(bp)
	}
	return col
}

// appendHeaderSide appends prefix and the object of h's allow-listed
// headers in cols, or nothing when h has none of them.
func appendHeaderSide(b []byte, prefix string, h http.Header, cols []headerCol) ([]byte, bool) {
	kept := false
	for _, c := range cols {
		v := h[c.canon] // what h.Values(c.canon) reads, without canonicalizing again
		if len(v) == 0 {
			continue
		}
		if kept {
			b = append(b, ',')
		} else {
			b = append(append(b, prefix...), '{')
			kept = true
		}
		b = appendJSONString(b, c.member)
		b = append(b, ':')
		val := v[0]
		if len(v) > 1 {
			val = strings.Join(v, ", ")
		}
		b = appendJSONString(b, reqlog.Truncated(val, reqlog.MaxHeaderValueBytes))
	}
	if kept {
		b = append(b, '}')
	}
	return b, kept
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json
// does with SetEscapeHTML(false): quotes, backslashes and control
// characters escaped (\b \f \n \r \t short), invalid UTF-8 as \ufffd, and
// U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
