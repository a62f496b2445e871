package reqlog

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Field bounds, in bytes, of every string a Record logs. Most of a record
// comes from the caller (path, method, api-version, error causes that quote
// them), and any caller, even one refused before authentication, must not
// be able to write more than a few KiB per row. The bounds are documented
// in docs/observability.md.
const (
	// MaxPathBytes bounds Path (the logged Url): longer than any real API
	// path, far shorter than the 1 MiB a request line may carry.
	MaxPathBytes = 1024
	// MaxErrorMessageBytes bounds ErrorMessage: a cause plus an attempt trace.
	MaxErrorMessageBytes = 1024
	// MaxShortFieldBytes bounds every other string field: IDs, names,
	// addresses, method, api-version, kinds.
	MaxShortFieldBytes = 256
	// MaxHeaderValueBytes bounds each header value in Headers, and
	// MaxHeadersBytes the column: the allow-list is short, so a column
	// built from cut values stays well under it, and the cut (which
	// would break the JSON) only guards against a bug.
	MaxHeaderValueBytes = 128
	MaxHeadersBytes     = 4096
)

// Bound truncates every string field of r to its maximum length (the
// bodies to maxBody, the configured body-logging limit), marking each cut
// with Truncated's marker, and replaces invalid UTF-8, which a request path
// may carry after percent-decoding and which PostgreSQL refuses as text.
func (r *Record) Bound(maxBody int) {
	for _, f := range []*string{&r.RequestID, &r.Caller, &r.AuthType, &r.ClientIP, &r.Listener, &r.Deployment,
		&r.Model, &r.Upstream, &r.Operation, &r.APIVersion, &r.Method, &r.ErrorKind, &r.Region, &r.Replica,
		&r.KeyName, &r.Owner, &r.Team, &r.PriceVersion} {
		*f = Truncated(*f, MaxShortFieldBytes)
	}
	r.Path = Truncated(r.Path, MaxPathBytes)
	r.ErrorMessage = Truncated(r.ErrorMessage, MaxErrorMessageBytes)
	r.Guardrail = Truncated(r.Guardrail, MaxErrorMessageBytes)
	r.Headers = Truncated(r.Headers, MaxHeadersBytes)
	r.RequestBody = Truncated(r.RequestBody, maxBody)
	r.ResponseBody = Truncated(r.ResponseBody, maxBody)
}

// Truncated returns s as valid UTF-8 of at most max bytes. When s is longer
// it keeps a prefix, cut on a character boundary, followed by the marker
// "…[truncated N bytes]" (N counts the bytes removed), so a reader knows the
// value was longer. With max too small for the marker it cuts without one.
func Truncated(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	// Size the marker for the largest count it could carry, so the result
	// stays within max whatever the cut point.
	keep := max - len(marker(len(s)))
	if keep < 0 {
		return s[:runeStart(s, max)]
	}
	keep = runeStart(s, keep)
	return s[:keep] + marker(len(s)-keep)
}

// TruncatedBytes is Truncated for a byte slice, such as a 25 MiB request
// body, converting only what is kept.
func TruncatedBytes(b []byte, max int) string {
	if len(b) <= max || max <= 0 {
		return Truncated(string(b), max)
	}
	keep := max - len(marker(len(b)))
	if keep < 0 {
		return Truncated(string(b[:max]), max)
	}
	for keep > 0 && !utf8.RuneStart(b[keep]) {
		keep--
	}
	return strings.ToValidUTF8(string(b[:keep]), "\uFFFD") + marker(len(b)-keep)
}

func marker(n int) string { return "…[truncated " + strconv.Itoa(n) + " bytes]" }

// runeStart moves i back to the start of the character it falls in.
func runeStart(s string, i int) int {
	for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}
