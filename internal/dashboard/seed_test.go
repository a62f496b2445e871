package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/dashboard"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/kql"
	"github.com/moat-gw/moat/internal/logquery"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

// testNow is the dashboard's clock in every test.
var testNow = time.Date(2026, 3, 14, 12, 30, 0, 0, time.UTC)

// testKey is the api-key the test authorizer accepts.
const testKey = "dashboard-test-key"

// call builds one seeded record at hh:mm on testNow's day.
func call(hh, mm int, caller, dep string, status int, kind string, ms float64, prompt, completion int) reqlog.Record {
	replica := "moat-b" // alice's calls land on moat-a, everyone else's on moat-b
	if caller == "alice" {
		replica = "moat-a"
	}
	upstream := status // what the upstream answered; 0 when moat answered alone
	if dep == "" || kind == "policy_rate_limit" {
		upstream = 0
	}
	keyName, team := "", "" // alice calls with the key "ranker" of team search, bob is in team ads
	switch caller {
	case "alice":
		keyName, team = "ranker", "search"
	case "bob":
		team = "ads"
	}
	return reqlog.Record{
		UpstreamStatus: upstream, KeyName: keyName, Team: team, Cost: float64(prompt+completion) / 1000, PriceVersion: "2025-08-list",
		Time: time.Date(2026, 3, 14, hh, mm, 0, 0, time.UTC), RequestID: fmt.Sprintf("req-%02d%02d-%s", hh, mm, caller),
		Caller: caller, AuthType: "key", ClientIP: "10.1.0.7", Listener: "private", Deployment: dep, Model: dep,
		Upstream: "eastus", Operation: "ChatCompletions_Create", APIVersion: "2024-10-21", Method: "POST",
		Path: "/openai/deployments/" + dep + "/chat/completions", Status: status, ErrorKind: kind, TotalMs: ms,
		PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion, Streamed: mm%2 == 0,
		Attempts: 1, Replica: replica,
	}
}

// seed is the known traffic the tests check the panels against. In the
// last hour: 10 calls by 3 callers, two 429s, two other errors,
// 2,090 prompt and 418 completion tokens; gpt-4o used 2,400 tokens and
// gpt-4o-mini 108. One older call is inside 24 hours, one only inside 7 days.
func seed() []reqlog.Record {
	return []reqlog.Record{
		call(11, 40, "alice", "gpt-4o", 200, "", 200, 200, 40),
		call(12, 5, "alice", "gpt-4o", 200, "", 800, 1000, 200),
		call(12, 10, "alice", "gpt-4o", 200, "", 400, 500, 100),
		call(12, 15, "bob", "gpt-4o", 200, "", 300, 300, 60),
		call(12, 20, "bob", "gpt-4o-mini", 200, "", 100, 50, 10),
		call(12, 20, "carol", "gpt-4o-mini", 200, "", 120, 40, 8),
		call(12, 25, "carol", "gpt-4o-mini", 429, "upstream_rate_limit", 5, 0, 0),
		call(12, 25, "bob", "gpt-4o", 429, "policy_rate_limit", 1, 0, 0),
		call(12, 26, "alice", "gpt-4o", 500, "upstream_error", 900, 0, 0),
		call(12, 28, "bob", "", 404, "client_not_found", 1, 0, 0),
		call(9, 30, "dave", "gpt-4o", 200, "", 50, 10000, 0),
		{Time: testNow.Add(-72 * time.Hour), RequestID: "req-old", Caller: "erin", Deployment: "gpt-4o", Status: 200, TotalTokens: 5},
	}
}

// authorize accepts testKey for the logs-read data action.
func authorize(r *http.Request, dataAction string) (string, error) {
	if dataAction != logquery.DataAction {
		return "", errors.New("unexpected data action " + dataAction)
	}
	if r.Header.Get("api-key") != testKey {
		return "", httpx.New(http.StatusUnauthorized, httpx.KindClientAuth,
			openai.FrontDoorErrorCompact("401", openai.MsgInvalidKey), nil)
	}
	return "key:test", nil
}

// upstreams is a fixed health report: one healthy, one benched, one open.
func upstreams() []dashboard.UpstreamStatus {
	return []dashboard.UpstreamStatus{
		{Pool: "gpt-4o", Name: "eastus", State: "closed", Available: true},
		{Pool: "gpt-4o", Name: "westeurope", State: "closed", BenchedUntil: testNow.Add(20 * time.Second)},
		{Pool: "gpt-4o-mini", Name: "swedencentral", State: "open", OpenUntil: testNow.Add(30 * time.Second), ConsecutiveFailures: 5},
	}
}

// newDashboard seeds a SQLite store and returns the dashboard over it,
// mounted at /dashboard/ on a mux.
func newDashboard(t testing.TB) http.Handler {
	t.Helper()
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "moat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.WriteBatch(ctx, seed()); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return testNow }
	runner := &logquery.Runner{DB: s.DB(), Dialect: kql.SQLite, Now: clock}
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", dashboard.New(dashboard.Options{
		Authorize: authorize, Query: runner.Query, Upstreams: upstreams, Now: clock,
	}))
	return mux
}
