package dataplane

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/reqlog"
)

// TestCallHeadersNoSecrets: the Headers column keeps the allow-listed
// headers and never a credential, in any spelling, on either side.
func TestCallHeadersNoSecrets(t *testing.T) {
	const secret = "secret-b6f1"
	tests := []struct {
		name      string
		req, resp http.Header
		want      string
	}{
		{
			name: "api-key",
			req:  http.Header{"Api-Key": {secret}, "User-Agent": {"AzureOpenAI/Python 1.0"}, "Content-Type": {"application/json"}},
			resp: http.Header{"X-Request-Id": {"r1"}, "Content-Type": {"application/json"}},
			want: `{"req":{"content-type":"application/json","user-agent":"AzureOpenAI/Python 1.0"},"resp":{"content-type":"application/json","x-request-id":"r1"}}`,
		},
		{
			name: "bearer and friends",
			req: http.Header{"Authorization": {"Bearer " + secret}, "X-Api-Key": {secret}, "Cookie": {"s=" + secret},
				"Proxy-Authorization": {secret}, "X-Ms-Client-Request-Id": {"c1"}, "Anthropic-Version": {"2023-06-01"}},
			resp: http.Header{"Set-Cookie": {"s=" + secret}, "Www-Authenticate": {secret}, "Retry-After": {"2"},
				"X-Ratelimit-Remaining-Tokens": {"900"}},
			want: `{"req":{"anthropic-version":"2023-06-01","x-ms-client-request-id":"c1"},"resp":{"retry-after":"2","x-ratelimit-remaining-tokens":"900"}}`,
		},
		{
			name: "only secrets",
			req:  http.Header{"Api-Key": {secret}},
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := callHeaders(tt.req, tt.resp)
			if got != tt.want {
				t.Errorf("callHeaders = %s\nwant %s", got, tt.want)
			}
			if strings.Contains(got, secret) {
				t.Errorf("secret in column: %s", got)
			}
		})
	}
}

// TestCallHeadersBounded: each value is cut, and a hostile client's
// longest headers keep the column valid JSON within the record's bound.
func TestCallHeadersBounded(t *testing.T) {
	req, resp := http.Header{}, http.Header{}
	long := strings.Repeat("<é\xff", 4096)
	for _, k := range logRequestHeaders {
		req[k] = []string{long, long}
	}
	for _, k := range logResponseHeaders {
		resp[k] = []string{long}
	}
	got := callHeaders(req, resp)
	if len(got) > reqlog.MaxHeadersBytes {
		t.Fatalf("column is %d bytes, more than %d", len(got), reqlog.MaxHeadersBytes)
	}
	var col map[string]map[string]string
	if err := json.Unmarshal([]byte(got), &col); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if len(col["req"]) != len(logRequestHeaders) || len(col["resp"]) != len(logResponseHeaders) {
		t.Fatalf("kept %d and %d headers", len(col["req"]), len(col["resp"]))
	}
	for _, v := range col["req"] {
		if len(v) > reqlog.MaxHeaderValueBytes || !strings.Contains(v, "…[truncated ") {
			t.Fatalf("value not cut: %d bytes", len(v))
		}
	}
}
