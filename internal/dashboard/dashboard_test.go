package dashboard_test

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/dashboard"
	"github.com/moat-gw/moat/internal/openai"
)

// get sends a request with the test key and returns the recorder.
func get(t *testing.T, h http.Handler, method, path, key, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("api-key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func summaryOf(t *testing.T, h http.Handler, rng string) dashboard.Summary {
	t.Helper()
	rec := get(t, h, "GET", "/dashboard/api/summary?range="+rng, testKey, "")
	if rec.Code != 200 {
		t.Fatalf("summary: %d %s", rec.Code, rec.Body)
	}
	var s dashboard.Summary
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSummaryLastHour(t *testing.T) {
	h := newDashboard(t)
	s := summaryOf(t, h, "1h")

	if want := (dashboard.Totals{Calls: 10, Throttled: 2, Errors: 2, PromptTokens: 2090,
		CompletionTokens: 418, TotalTokens: 2508, Callers: 3}); s.Totals != want {
		t.Errorf("totals = %+v, want %+v", s.Totals, want)
	}
	wantDeps := []dashboard.TokenRow{
		{Name: "gpt-4o", Calls: 6, PromptTokens: 2000, CompletionTokens: 400, TotalTokens: 2400},
		{Name: "gpt-4o-mini", Calls: 3, PromptTokens: 90, CompletionTokens: 18, TotalTokens: 108},
		{Name: "", Calls: 1, TotalTokens: 0},
	}
	if diff := cmp.Diff(wantDeps, s.TokensByDeployment); diff != "" {
		t.Errorf("tokens by deployment (-want +got):\n%s", diff)
	}
	wantCallers := []dashboard.TokenRow{
		{Name: "ranker (alice)", Calls: 4, PromptTokens: 1700, CompletionTokens: 340, TotalTokens: 2040},
		{Name: "bob", Calls: 4, PromptTokens: 350, CompletionTokens: 70, TotalTokens: 420},
		{Name: "carol", Calls: 2, PromptTokens: 40, CompletionTokens: 8, TotalTokens: 48},
	}
	if diff := cmp.Diff(wantCallers, s.TokensByCaller); diff != "" {
		t.Errorf("tokens by caller (-want +got):\n%s", diff)
	}
	// Spend by team and model: alice's search calls on gpt-4o cost 2.04.
	if len(s.SpendVersions) != 1 || s.SpendVersions[0] != "2025-08-list" || s.SpendTotal < 2.507 || s.SpendTotal > 2.509 {
		t.Errorf("spend versions %v total %v", s.SpendVersions, s.SpendTotal)
	}
	if len(s.Spend.Rows) == 0 || s.Spend.Rows[0][0] != "search" || s.Spend.Rows[0][1] != "gpt-4o" {
		t.Errorf("spend rows %v", s.Spend.Rows)
	}
	wantReplicas := []dashboard.TokenRow{
		{Name: "moat-a", Calls: 4, PromptTokens: 1700, CompletionTokens: 340, TotalTokens: 2040},
		{Name: "moat-b", Calls: 6, PromptTokens: 390, CompletionTokens: 78, TotalTokens: 468},
	}
	if diff := cmp.Diff(wantReplicas, s.TokensByReplica); diff != "" {
		t.Errorf("tokens by replica (-want +got):\n%s", diff)
	}
	wantReasons := []dashboard.ReasonRow{
		{Status: 404, Reason: "client_not_found", Count: 1},
		{Status: 429, Reason: "policy_rate_limit", Count: 1},
		{Status: 429, Reason: "upstream_rate_limit", Count: 1},
		{Status: 500, Reason: "upstream_error", Count: 1},
	}
	got := s.ErrorsByReason
	// Equal counts come in no particular order.
	slicesSort(got)
	if diff := cmp.Diff(wantReasons, got); diff != "" {
		t.Errorf("errors by reason (-want +got):\n%s", diff)
	}
	// percentile_cont over gpt-4o's successes {200, 300, 400, 800} and
	// gpt-4o-mini's {100, 120}.
	wantLatency := []dashboard.LatencyRow{
		{Name: "gpt-4o", Calls: 4, P50: 350, P95: 740},
		{Name: "gpt-4o-mini", Calls: 2, P50: 110, P95: 119},
	}
	if diff := cmp.Diff(wantLatency, s.LatencyByDeployment, cmpFloat); diff != "" {
		t.Errorf("latency (-want +got):\n%s", diff)
	}

	if len(s.Timeline) != 60 {
		t.Fatalf("timeline has %d buckets, want 60", len(s.Timeline))
	}
	if first, last := s.Timeline[0].Time, s.Timeline[59].Time; !first.Equal(testNow.Add(-59*time.Minute)) || !last.Equal(testNow) {
		t.Errorf("timeline spans %v–%v, want %v–%v", first, last, testNow.Add(-59*time.Minute), testNow)
	}
	var calls, throttled, errs int64
	for _, p := range s.Timeline {
		calls, throttled, errs = calls+p.Calls, throttled+p.Throttled, errs+p.Errors
	}
	if calls != 10 || throttled != 2 || errs != 2 {
		t.Errorf("timeline sums to %d calls, %d 429s, %d errors; want 10, 2, 2", calls, throttled, errs)
	}
	if p := s.Timeline[54]; !p.Time.Equal(time.Date(2026, 3, 14, 12, 25, 0, 0, time.UTC)) || p.Throttled != 2 {
		t.Errorf("bucket 12:25 = %+v, want two 429s", p)
	}

	if n := len(s.Recent.Rows); n != 10 {
		t.Errorf("recent calls: %d rows, want the hour's 10", n)
	}
	if first := s.Recent.Rows[0]; first[1] != "req-1228-bob" {
		t.Errorf("newest recent call = %v, want req-1228-bob", first)
	}
	for _, k := range []string{"totals", "timeline", "tokens_by_deployment", "tokens_by_caller", "tokens_by_replica", "errors_by_reason", "latency_by_deployment", "recent"} {
		if !strings.HasPrefix(s.Queries[k], "MoatGatewayLogs") {
			t.Errorf("query %s = %q", k, s.Queries[k])
		}
	}
}

var cmpFloat = cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })

func slicesSort(rs []dashboard.ReasonRow) {
	for i := range rs {
		for j := i + 1; j < len(rs); j++ {
			if rs[j].Status < rs[i].Status || (rs[j].Status == rs[i].Status && rs[j].Reason < rs[i].Reason) {
				rs[i], rs[j] = rs[j], rs[i]
			}
		}
	}
}

func TestSummaryRanges(t *testing.T) {
	h := newDashboard(t)
	tests := []struct {
		rng       string
		calls     int64
		tokens    int64
		buckets   int
		binSecond int64
	}{
		{rng: "1h", calls: 10, tokens: 2508, buckets: 60, binSecond: 60},
		{rng: "24h", calls: 11, tokens: 12508, buckets: 96, binSecond: 900},
		{rng: "7d", calls: 12, tokens: 12513, buckets: 84, binSecond: 7200},
	}
	for _, tt := range tests {
		t.Run(tt.rng, func(t *testing.T) {
			s := summaryOf(t, h, tt.rng)
			if s.Totals.Calls != tt.calls || s.Totals.TotalTokens != tt.tokens {
				t.Errorf("calls, tokens = %d, %d; want %d, %d", s.Totals.Calls, s.Totals.TotalTokens, tt.calls, tt.tokens)
			}
			if len(s.Timeline) != tt.buckets || s.BinSeconds != tt.binSecond {
				t.Errorf("%d buckets of %ds, want %d of %ds", len(s.Timeline), s.BinSeconds, tt.buckets, tt.binSecond)
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	h := newDashboard(t)
	tests := []struct {
		name        string
		method      string
		path        string
		key         string
		body        string
		wantStatus  int
		wantType    string // Content-Type prefix
		wantContain string
	}{
		{name: "page", method: "GET", path: "/dashboard/", wantStatus: 200, wantType: "text/html", wantContain: `<script type="module" src="app.js">`},
		{name: "script", method: "GET", path: "/dashboard/app.js", wantStatus: 200, wantType: "text/javascript", wantContain: "api-key"},
		{name: "charts", method: "GET", path: "/dashboard/chart.js", wantStatus: 200, wantType: "text/javascript", wantContain: "export function timeChart"},
		{name: "style", method: "GET", path: "/dashboard/app.css", wantStatus: 200, wantType: "text/css"},
		{name: "icon", method: "GET", path: "/dashboard/favicon.svg", wantStatus: 200, wantType: "image/svg+xml"},
		{name: "missing file", method: "GET", path: "/dashboard/nope.js", wantStatus: 404},
		{name: "summary needs a key", method: "GET", path: "/dashboard/api/summary", wantStatus: 401,
			wantContain: string(openai.FrontDoorErrorCompact("401", openai.MsgInvalidKey))},
		{name: "wrong key", method: "GET", path: "/dashboard/api/upstreams", key: "nope", wantStatus: 401},
		{name: "bad range", method: "GET", path: "/dashboard/api/summary?range=2y", key: testKey, wantStatus: 400,
			wantContain: "range must be one of"},
		{name: "upstreams", method: "GET", path: "/dashboard/api/upstreams", key: testKey, wantStatus: 200,
			wantType: "application/json", wantContain: `{"pool":"gpt-4o-mini","name":"swedencentral","state":"open","available":false,"open_until":"2026-03-14T12:30:30Z","consecutive_failures":5}`},
		{name: "schema", method: "GET", path: "/dashboard/api/schema", key: testKey, wantStatus: 200,
			wantContain: `{"name":"TimeGenerated","type":"datetime"}`},
		{name: "query", method: "POST", path: "/dashboard/api/query", key: testKey, wantStatus: 200,
			body:        `{"query":"MoatGatewayLogs | where ResponseCode == 429 | count"}`,
			wantContain: `"rows":[[2]]`},
		{name: "query error", method: "POST", path: "/dashboard/api/query", key: testKey, wantStatus: 400,
			body: `{"query":"MoatGatewayLogs | summarize by"}`, wantContain: `"message": "line 1, col`},
		{name: "query needs a key", method: "POST", path: "/dashboard/api/query", wantStatus: 401,
			body: `{"query":"MoatGatewayLogs | count"}`},
		{name: "unknown api", method: "GET", path: "/dashboard/api/nope", key: testKey, wantStatus: 404,
			wantContain: `"code":"404"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, h, tt.method, tt.path, tt.key, tt.body)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
				t.Errorf("Content-Type = %q, want %q…", ct, tt.wantType)
			}
			if !strings.Contains(rec.Body.String(), tt.wantContain) {
				t.Errorf("body does not contain %q:\n%s", tt.wantContain, rec.Body)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") {
				t.Errorf("Content-Security-Policy = %q", csp)
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
		})
	}
}

func TestPrefixRedirect(t *testing.T) {
	h := dashboard.New(dashboard.Options{Prefix: "/ops/dash/", Authorize: authorize})
	rec := get(t, h, "GET", "/ops/dash", "", "")
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/ops/dash/" {
		t.Errorf("GET /ops/dash = %d to %q, want a redirect to /ops/dash/", rec.Code, rec.Header().Get("Location"))
	}
	if rec := get(t, h, "GET", "/ops/dash/", "", ""); rec.Code != 200 {
		t.Errorf("GET /ops/dash/ = %d", rec.Code)
	}
}

// TestAirGapped checks that the embedded page loads nothing from another
// origin and has no inline script or style, which the CSP would block.
func TestAirGapped(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	inline := regexp.MustCompile(`(?i)<script>|<script [^>]*>[^<]|\sstyle=|\son[a-z]+=|javascript:|<style`)
	err := fs.WalkDir(os.DirFS("assets"), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile("assets/" + path)
		if err != nil {
			return err
		}
		text := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "") // a namespace, not a fetch
		if m := external.FindString(text); m != "" {
			t.Errorf("%s refers to another origin: %q", path, m)
		}
		if strings.HasSuffix(path, ".html") || strings.HasSuffix(path, ".svg") {
			if m := inline.FindString(text); m != "" {
				t.Errorf("%s has inline code or style: %q", path, m)
			}
		}
		if strings.HasSuffix(path, ".js") && (strings.Contains(text, "innerHTML") || strings.Contains(text, "setAttribute('style'") || strings.Contains(text, "eval(")) {
			t.Errorf("%s uses innerHTML, eval or style attributes", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
