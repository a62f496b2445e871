package auth_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/rbac"
)

// *auth.Principal must satisfy rbac.Principal; neither package imports the
// other, so this test is where the two meet (as in the gateway).
var _ rbac.Principal = (*auth.Principal)(nil)

// TestGatewayOrder runs the calls in the order the gateway makes them.
func TestGatewayOrder(t *testing.T) {
	ctx := context.Background()
	h := auth.NewHasher(nil)
	plain, km, err := h.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	store, err := auth.NewMemKeyStore(&auth.Key{ID: km.ID, Hash: km.Hash, Operations: []string{"chat"}})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := auth.NewKeyVerifier(auth.KeyVerifierOptions{Stores: []auth.KeyStore{store}, Hasher: h})
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.NewAuthenticator(auth.AuthenticatorOptions{Keys: kv})
	authz, err := rbac.New(rbac.Config{Assignments: []rbac.Assignment{{Role: rbac.RoleMoatLogReader, Principal: rbac.Selector{Kind: rbac.SelectKey, Value: km.ID}}}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := authn.AuthenticateRequest(ctx, http.Header{"Authorization": {"Bearer " + plain}}, true)
	if err != nil {
		t.Fatal(err)
	}
	chat, _ := openai.OperationByName("chat")
	op := rbac.OperationTemplate(chat, true)
	if err := p.CheckKeyScope("gpt-4o", chat, op, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := authz.Check(p, chat.DataAction, "gpt-4o").Err(op); err != nil {
		t.Errorf("key bypass: %v", err)
	}
	if !authz.Check(p, rbac.DataActionLogsRead, "").Allowed {
		t.Error("key with a Moat Log Reader assignment cannot read logs")
	}
	if authz.Check(p, rbac.DataActionKeysWrite, "").Allowed {
		t.Error("key may write keys without an assignment")
	}
}
