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

// callHeadersByEncoder is the column as encoding/json renders it, the
// oracle that callHeaders, which writes the bytes itself, must match.
func callHeadersByEncoder(req, resp http.Header) string {
	pick := func(h http.Header, names []string) map[string]string {
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
	var col struct {
		Req  map[string]string `json:"req,omitempty"`
		Resp map[string]string `json:"resp,omitempty"`
	}
	col.Req, col.Resp = pick(req, logRequestHeaders), pick(resp, logResponseHeaders)
	if col.Req == nil && col.Resp == nil {
		return ""
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(col); err != nil {
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// FuzzCallHeaders: the column written byte by byte is what encoding/json
// writes, for any values on any allow-listed header of either side.
func FuzzCallHeaders(f *testing.F) {
	f.Add(uint32(1), uint32(0), "AzureOpenAI/Python 1.0", "r1", false)
	f.Add(uint32(0), uint32(1<<11), "", "x", true)
	f.Add(uint32(0xffff), uint32(0xfff), "<é\xff\u2028\x00\b\f\n\r\t\"\\\x7f", strings.Repeat("é", 80), true)
	f.Fuzz(func(t *testing.T, reqMask, respMask uint32, a, b string, two bool) {
		req, resp := http.Header{}, http.Header{}
		for i, k := range logRequestHeaders {
			if reqMask&(1<<i) != 0 {
				req[k] = []string{a}
				if two {
					req[k] = append(req[k], b)
				}
			}
		}
		for i, k := range logResponseHeaders {
			if respMask&(1<<i) != 0 {
				resp[k] = []string{b}
			}
		}
		req["Api-Key"] = []string{a}
		if got, want := callHeaders(req, resp), callHeadersByEncoder(req, resp); got != want {
			t.Fatalf("callHeaders = %s\nencoding/json: %s", got, want)
		}
	})
}

// TestCallHeadersAllocs: the column costs one allocation, the string it
// returns, when no header has more than one value (the race detector
// drops a quarter of what goes back to a sync.Pool, hence the margin).
func TestCallHeadersAllocs(t *testing.T) {
	req := http.Header{"User-Agent": {"AzureOpenAI/Python 1.0"}, "Content-Type": {"application/json"}, "Api-Key": {"k"}}
	resp := http.Header{"Content-Type": {"application/json"}, "Apim-Request-Id": {"f0e1"}, "X-Request-Id": {"r1"}}
	callHeaders(req, resp) // fill the pool
	if n := testing.AllocsPerRun(100, func() { callHeaders(req, resp) }); n > 1.5 {
		t.Errorf("callHeaders allocates %v times per call, want 1", n)
	}
}
