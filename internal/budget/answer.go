package budget

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/moat-gw/moat/internal/httpx"
)

// HTTPError answers an exhausted budget as Azure API Management answers an
// exhausted quota: 403 Forbidden with Retry-After (to the period's end) and
// APIM's {"statusCode", "message"} envelope. A token budget uses the text
// of llm-token-limit's token quota; a cost budget, which APIM has no policy
// for, uses the quota policy's ("Out of call volume quota"), the shape
// clients of APIM already recognize. 403 rather than 429: retrying within
// the period cannot succeed, and SDKs retry 429s on their own.
func (d *Denied) HTTPError() *httpx.Error {
	secs := int((d.RetryAfter + time.Second - 1) / time.Second)
	secs = max(secs, 1)
	var msg string
	if d.Unit == UnitTokens {
		msg = fmt.Sprintf("Token quota is exceeded. Try again in %d minutes and %d seconds.", secs/60, secs%60)
	} else {
		msg = "Out of call volume quota. Quota will be replenished in " + apimSpan(secs) + "."
	}
	e := httpx.StatusMessage(http.StatusForbidden, httpx.KindPolicyQuota, msg, d)
	return e.WithHeader("Retry-After", strconv.Itoa(secs))
}

// apimSpan writes seconds as .NET's TimeSpan does in APIM's message:
// [d.]hh:mm:ss.
func apimSpan(secs int) string {
	d, h, m, s := secs/86400, secs/3600%24, secs/60%60, secs%60
	if d > 0 {
		return fmt.Sprintf("%d.%02d:%02d:%02d", d, h, m, s)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
}
