package ratelimit

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// DenialKind says which limit refused a call; it picks the client answer.
type DenialKind string

// Denial kinds.
const (
	DeniedTokens   DenialKind = "tokens"
	DeniedRequests DenialKind = "requests"
	DeniedQuota    DenialKind = "quota"
	// DeniedUnavailable means the shared counter store could not be reached
	// and the limit is fail_closed.
	DeniedUnavailable DenialKind = "unavailable"
)

// Denial is a refused reservation. It is an error so Reserve keeps Go's usual
// shape, and it carries everything the 429/403 answer needs.
type Denial struct {
	// Key is the scope whose limit refused the call; with several refusing
	// scopes, the one that frees up last.
	Key  string
	Kind DenialKind
	// RetryAfter is the time until the call would fit, in every scope.
	RetryAfter time.Duration
	// RemainingTokens, RemainingRequests and RemainingQuota are the tightest
	// leftovers over the call's scopes; -1 when unknown or not limited.
	RemainingTokens   int
	RemainingRequests int
	RemainingQuota    int64
	// Err is the store error behind DeniedUnavailable, for the log only.
	Err error
}

// Error describes the denial for the log; it names the scope key, never a secret.
func (d *Denial) Error() string {
	if d.Err != nil {
		return fmt.Sprintf("rate limit %s: %s: retry after %v: %v", d.Kind, d.Key, d.RetryAfter, d.Err)
	}
	return fmt.Sprintf("rate limit %s: %s: retry after %v", d.Kind, d.Key, d.RetryAfter)
}

// Unwrap returns the store error behind DeniedUnavailable, if any.
func (d *Denial) Unwrap() error { return d.Err }

// unavailable is the DeniedUnavailable denial of key: the store could not
// count the call (cause), retry after wait; nothing is left to report.
func unavailable(key string, wait time.Duration, cause error) *Denial {
	return &Denial{Key: key, Kind: DeniedUnavailable, RetryAfter: wait,
		RemainingTokens: -1, RemainingRequests: -1, RemainingQuota: -1, Err: cause}
}

// Policy-id header values Azure sends with its own rate-limit 429s (§2.9).
const (
	PolicyIDToken = "DeploymentRatelimit-Token"
	PolicyIDCall  = "DeploymentRatelimit-Call"
)

// HTTPError renders the denial as Azure and APIM answer it: TPM and RPM get
// Azure's 429 with retry-after, retry-after-ms and the remaining counters
// (§2.9); a quota gets APIM's 403 "Token quota is exceeded" (§5.1); an
// unreachable fail_closed store gets a 503. operationID and apiVersion are
// interpolated into the 429 text (e.g. "ChatCompletions_Create",
// "2024-10-21").
func (d *Denial) HTTPError(operationID, apiVersion string) *httpx.Error {
	secs := retrySeconds(d.RetryAfter)
	switch d.Kind {
	case DeniedQuota:
		msg := fmt.Sprintf("Token quota is exceeded. Try again in %d minutes and %d seconds.", secs/60, secs%60)
		e := httpx.StatusMessage(http.StatusForbidden, httpx.KindPolicyQuota, msg, d)
		return e.WithHeader("Retry-After", strconv.Itoa(secs))
	case DeniedUnavailable:
		e := httpx.FrontDoor(http.StatusServiceUnavailable, httpx.KindGatewayInternal, "503", openai.MsgServiceUnavailable, d)
		return e.WithHeader("Retry-After", strconv.Itoa(secs))
	}
	kind, policy := "token", PolicyIDToken
	if d.Kind == DeniedRequests {
		kind, policy = "call", PolicyIDCall
	}
	msg := openai.RateLimitMessage(operationID, apiVersion, kind, secs)
	e := httpx.FrontDoor(http.StatusTooManyRequests, httpx.KindPolicyRateLimit, "429", msg, d)
	e.WithHeader("Retry-After", strconv.Itoa(secs))
	e.WithHeader("Retry-After-Ms", strconv.FormatInt(retryMillis(d.RetryAfter), 10))
	e.WithHeader("Policy-Id", policy)
	if d.RemainingTokens >= 0 {
		e.WithHeader("X-Ratelimit-Remaining-Tokens", strconv.Itoa(d.RemainingTokens))
	}
	if d.RemainingRequests >= 0 {
		e.WithHeader("X-Ratelimit-Remaining-Requests", strconv.Itoa(d.RemainingRequests))
	}
	return e
}

// retrySeconds rounds up to whole seconds, at least 1: clients that retry
// after 0 s would hammer the limit.
func retrySeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// retryMillis rounds up to whole milliseconds, at least 1.
func retryMillis(d time.Duration) int64 {
	ms := int64((d + time.Millisecond - 1) / time.Millisecond)
	return max(ms, 1)
}
