package ratelimit

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

func TestDenialHTTPError(t *testing.T) {
	tests := []struct {
		name   string
		d      Denial
		status int
		kind   httpx.Kind
		body   string
		header http.Header
	}{
		{
			name:   "tokens: Azure 429 rounded up",
			d:      Denial{Key: "key:a", Kind: DeniedTokens, RetryAfter: 5200 * time.Millisecond, RemainingTokens: 12, RemainingRequests: -1, RemainingQuota: -1},
			status: 429, kind: httpx.KindPolicyRateLimit,
			body: `{"error":{"code":"429","message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."}}`,
			header: http.Header{"Retry-After": {"6"}, "Retry-After-Ms": {"5200"}, "Policy-Id": {"DeploymentRatelimit-Token"},
				"X-Ratelimit-Remaining-Tokens": {"12"}},
		},
		{
			name:   "requests: call rate limit, at least one second",
			d:      Denial{Key: "key:a", Kind: DeniedRequests, RetryAfter: 300 * time.Microsecond, RemainingTokens: 900, RemainingRequests: 0, RemainingQuota: -1},
			status: 429, kind: httpx.KindPolicyRateLimit,
			body: `{"error":{"code":"429","message": "Requests to the Embeddings_Create Operation under Azure OpenAI API version 2024-06-01 have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 1 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."}}`,
			header: http.Header{"Retry-After": {"1"}, "Retry-After-Ms": {"1"}, "Policy-Id": {"DeploymentRatelimit-Call"},
				"X-Ratelimit-Remaining-Tokens": {"900"}, "X-Ratelimit-Remaining-Requests": {"0"}},
		},
		{
			name:   "quota: APIM 403 in minutes and seconds",
			d:      Denial{Key: "principal:p", Kind: DeniedQuota, RetryAfter: 21*time.Minute + 32*time.Second + 100*time.Millisecond, RemainingTokens: -1, RemainingRequests: -1},
			status: 403, kind: httpx.KindPolicyQuota,
			body:   `{"statusCode": 403, "message": "Token quota is exceeded. Try again in 21 minutes and 33 seconds."}`,
			header: http.Header{"Retry-After": {"1293"}},
		},
		{
			name:   "quota: hours are counted in minutes",
			d:      Denial{Kind: DeniedQuota, RetryAfter: 2*time.Hour + 5*time.Second},
			status: 403, kind: httpx.KindPolicyQuota,
			body:   `{"statusCode": 403, "message": "Token quota is exceeded. Try again in 120 minutes and 5 seconds."}`,
			header: http.Header{"Retry-After": {"7205"}},
		},
		{
			name:   "unavailable store: 503 without the cause",
			d:      Denial{Kind: DeniedUnavailable, RetryAfter: time.Second, Err: errors.New("dial tcp 10.0.0.7:6379: connection refused")},
			status: 503, kind: httpx.KindGatewayInternal,
			body:   `{"error":{"code":"503","message": "The service is temporarily unable to process your request. Please try again later."}}`,
			header: http.Header{"Retry-After": {"1"}},
		},
	}
	ops := map[string][2]string{
		"tokens: Azure 429 rounded up":                   {"ChatCompletions_Create", "2024-10-21"},
		"requests: call rate limit, at least one second": {"Embeddings_Create", "2024-06-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := ops[tt.name]
			e := tt.d.HTTPError(op[0], op[1])
			if e.Status != tt.status || e.Kind != tt.kind {
				t.Errorf("status, kind = %d, %s; want %d, %s", e.Status, e.Kind, tt.status, tt.kind)
			}
			if diff := cmp.Diff(tt.body, string(httpx.Render(openai.Errors{}, e))); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.header, e.Header); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			var d *Denial
			if !errors.As(e, &d) || d.Kind != tt.d.Kind {
				t.Errorf("the httpx.Error does not wrap the denial: %v", e.Err)
			}
		})
	}
}
