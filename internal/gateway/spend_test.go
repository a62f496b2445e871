package gateway

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/idp"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
	"github.com/moat-gw/moat/internal/team"
)

// TestTeamAttribution checks that every request-log row names the key, its
// owner and its team, and that a token principal mapped to a team (here by
// its object ID) is logged under that team.
func TestTeamAttribution(t *testing.T) {
	iss, err := idp.New(idp.Options{TenantID: testTenant, IdentityHeader: msiSecret,
		Identities: []idp.Identity{{Name: "vm", ClientID: vmClient, ObjectID: vmObject, Managed: true}}})
	if err != nil {
		t.Fatal(err)
	}
	issuer := httptest.NewServer(iss.Handler())
	defer issuer.Close()
	ts := startServer(t, fmt.Sprintf(`
auth:
  issuers:
    - {name: local, tenant_id: %s, discovery_url: '%s/.well-known/openid-configuration'}
  assignments:
    - {role: Cognitive Services OpenAI User, principal: 'object:%s', scope: /}
`, testTenant, issuer.URL, vmObject))
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, ts.dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	plaintext, m, err := auth.NewHasher(nil).GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range []string{"search", "ads"} {
		if err := st.PutTeam(ctx, team.Team{Name: tm, CreatedAt: ts.now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Put(ctx, &auth.Key{ID: m.ID, Hash: m.Hash, Name: "ranker", Owner: "alice", Team: "search", CreatedAt: ts.now()}); err != nil {
		t.Fatal(err)
	}
	// The application (client) ID maps the managed identity to its team.
	if err := st.PutMember(ctx, team.Member{Principal: "app:" + vmClient, Team: "ads", CreatedAt: ts.now()}); err != nil {
		t.Fatal(err)
	}
	if err := ts.teams.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	url := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
	if status, _, body := do(t, "POST", url, chatBody, "api-key", plaintext); status != 200 {
		t.Fatalf("key call: %d %s", status, body)
	}
	tok, _, err := iss.Mint(vmClient, "https://cognitiveservices.azure.com")
	if err != nil {
		t.Fatal(err)
	}
	if status, _, body := do(t, "POST", url, chatBody, "Authorization", "Bearer "+tok); status != 200 {
		t.Fatalf("token call: %d %s", status, body)
	}
	recs := ts.records()
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	if r := recs[0]; r.Caller != m.ID || r.KeyName != "ranker" || r.Owner != "alice" || r.Team != "search" {
		t.Errorf("key row: caller %q name %q owner %q team %q", r.Caller, r.KeyName, r.Owner, r.Team)
	}
	if r := recs[1]; r.Caller != vmObject || r.KeyName != "" || r.Team != "ads" {
		t.Errorf("token row: caller %q name %q team %q", r.Caller, r.KeyName, r.Team)
	}
}

// TestCostAndBudget checks the cost column and price version of each row,
// and a team budget that stops calls with APIM's quota answer.
func TestCostAndBudget(t *testing.T) {
	ts := startServer(t, fmt.Sprintf(`
auth:
  keys:
    - {name: key1, key: %s}
cost:
  prices:
    - {deployment: gpt-4o-mini, input: 1000000, output: 1000000}   # a dollar a token: easy sums
  provisioned: [gpt-4o]
budgets:
  rules:
    - {name: key-day, scope: key, period: day, amount: 200}
`, key1))
	url := func(dep string) string {
		return ts.url + "/openai/deployments/" + dep + "/chat/completions?api-version=2024-10-21"
	}
	const body = `{"messages":[{"role":"user","content":"Hi"}],"max_tokens":5}`
	if status, _, b := do(t, "POST", url("gpt-4o"), body, "api-key", key1); status != 200 {
		t.Fatalf("provisioned: %d %s", status, b)
	}
	ok, denied := 0, 0
	var deniedBody string
	for range 40 {
		status, hdr, b := do(t, "POST", url("gpt-4o-mini"), body, "api-key", key1)
		switch status {
		case 200:
			ok++
		case 403:
			denied++
			deniedBody = b
			if hdr.Get("Retry-After") == "" {
				t.Error("403 without Retry-After")
			}
		default:
			t.Fatalf("%d %s", status, b)
		}
	}
	if ok == 0 || denied == 0 || !strings.Contains(deniedBody, `"statusCode": 403`) || !strings.Contains(deniedBody, "Out of call volume quota") {
		t.Fatalf("ok %d denied %d: %s", ok, denied, deniedBody)
	}
	var spent float64
	recs := ts.records()
	for _, r := range recs {
		switch {
		case r.Deployment == "gpt-4o":
			if r.Cost != 0 || !strings.HasPrefix(r.PriceVersion, "2025-08-list+cfg.") {
				t.Errorf("provisioned row: cost %v version %q", r.Cost, r.PriceVersion)
			}
		case r.Status == 200:
			if want := float64(r.PromptTokens + r.CompletionTokens); r.Cost != want || r.PriceVersion == "" {
				t.Errorf("row cost %v, want %v (usage %d+%d)", r.Cost, want, r.PromptTokens, r.CompletionTokens)
			}
			spent += r.Cost
		case r.Status == 403:
			if r.ErrorKind != "policy_quota" || r.Cost != 0 {
				t.Errorf("denied row %+v", r)
			}
		}
	}
	if spent > 200 {
		t.Errorf("spent %v over a budget of 200", spent)
	}
}
