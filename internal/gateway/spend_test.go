package gateway

import (
	"context"
	"fmt"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	"github.com/openai/openai-go/v3/option"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
	"github.com/moat-gw/moat/internal/team"
)

// TestTeamAttribution checks that every request-log row names the key, its
// owner and its team, and that a token principal mapped to a team (here by
// its object ID) is logged under that team.
func TestTeamAttribution(t *testing.T) {
	issuer := startIssuer(t)
	ts := startServer(t, fmt.Sprintf(`
auth:
  issuers:
    - {name: local, tenant_id: %s, discovery_url: '%s/.well-known/openid-configuration'}
  assignments:
    - {role: Cognitive Services OpenAI User, principal: 'object:%s', scope: /}
`, testTenant, issuer, vmObject))
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
	if err := st.PutMember(ctx, team.Member{Principal: "user:" + vmObject, Team: "ads", CreatedAt: ts.now()}); err != nil {
		t.Fatal(err)
	}
	if err := ts.teams.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if status, _, body := do(t, "POST", ts.url+"/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", chatBody, "api-key", plaintext); status != 200 {
		t.Fatalf("key call: %d %s", status, body)
	}
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := oai.NewClient(azure.WithEndpoint(ts.url, "2024-10-21"), azure.WithTokenCredential(cred),
		azure.WithUnsafeAllowHTTP(), option.WithMaxRetries(0))
	if _, err := client.Chat.Completions.New(ctx, oai.ChatCompletionNewParams{Model: "gpt-4o-mini",
		Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hi")}, MaxTokens: oai.Int(8)}); err != nil {
		t.Fatal(err)
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
