package rbac

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// who is a test principal; auth.Principal is the real one.
type who struct {
	display, oid, client, key string
	groups, roles             []string
}

func (w who) DisplayID() string       { return w.display }
func (w who) ObjectID() string        { return w.oid }
func (w who) ClientID() string        { return w.client }
func (w who) CredentialKeyID() string { return w.key }
func (w who) GroupIDs() []string      { return w.groups }
func (w who) AppRoles() []string      { return w.roles }

const (
	aChat        = openAIDataActionPrefix + "deployments/chat/completions/action"
	aEmbeddings  = openAIDataActionPrefix + "deployments/embeddings/action"
	aResponses   = openAIDataActionPrefix + "responses/write"
	aModelsRead  = openAIDataActionPrefix + "models/read"
	aFilesWrite  = openAIDataActionPrefix + "files/write"
	aFineTune    = openAIDataActionPrefix + "fine-tunes/write"
	aRealtime    = openAIDataActionPrefix + "deployments/realtime/action"
	aSpeech      = openAIDataActionPrefix + "deployments/audio/action"
	aImages      = openAIDataActionPrefix + "images/generations/action"
	aExtensions  = openAIDataActionPrefix + "deployments/extensions/chat/completions/action"
	aSearch      = openAIDataActionPrefix + "deployments/search/action"
	aEngines     = openAIDataActionPrefix + "engines/completions/action"
	aCompletions = openAIDataActionPrefix + "deployments/completions/action"
	aOtherCS     = "Microsoft.CognitiveServices/accounts/SpeechServices/speechrest/transcriptions/action"
	aRespDelete  = openAIDataActionPrefix + "responses/delete"
	aBatchRead   = openAIDataActionPrefix + "batches/read"
	aBatchWrite  = openAIDataActionPrefix + "batches/write"
)

func mustNew(t testing.TB, cfg Config) *Authorizer {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestBuiltinRolesGrantExactly pins what each built-in grants (wire reference §4.1).
func TestBuiltinRolesGrantExactly(t *testing.T) {
	all := []string{aChat, aEmbeddings, aResponses, aModelsRead, aFilesWrite, aFineTune, aRealtime, aSpeech,
		aImages, aExtensions, aSearch, aEngines, aCompletions, aOtherCS, DataActionLogsRead, DataActionKeysWrite,
		aRespDelete, aBatchRead, aBatchWrite}
	tests := []struct {
		role string
		want []string
	}{
		// OpenAI User reads files and batches (*/read) but may not upload or
		// start batches (§4.1: files ❌).
		{role: RoleOpenAIUser, want: []string{aChat, aEmbeddings, aResponses, aModelsRead, aSpeech, aImages, aExtensions, aSearch, aEngines, aCompletions, aRespDelete, aBatchRead}},
		{role: RoleOpenAIContributor, want: []string{aChat, aEmbeddings, aResponses, aModelsRead, aFilesWrite, aFineTune, aRealtime, aSpeech, aImages, aExtensions, aSearch, aEngines, aCompletions, aRespDelete, aBatchRead, aBatchWrite}},
		{role: RoleCognitiveServicesUser, want: []string{aChat, aEmbeddings, aResponses, aModelsRead, aFilesWrite, aFineTune, aRealtime, aSpeech, aImages, aExtensions, aSearch, aEngines, aCompletions, aOtherCS, aRespDelete, aBatchRead, aBatchWrite}},
		{role: RoleCognitiveServicesContrib, want: nil},
		{role: RoleMoatLogReader, want: []string{DataActionLogsRead}},
		{role: RoleMoatAdministrator, want: []string{aChat, aEmbeddings, aResponses, aModelsRead, aFilesWrite, aFineTune, aRealtime, aSpeech, aImages, aExtensions, aSearch, aEngines, aCompletions, DataActionLogsRead, DataActionKeysWrite, aRespDelete, aBatchRead, aBatchWrite}},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			a := mustNew(t, Config{Assignments: []Assignment{{Role: tt.role, Principal: Selector{SelectObject, "o1"}}}})
			var got []string
			for _, action := range all {
				if a.Check(who{oid: "o1"}, action, "d").Allowed {
					got = append(got, action)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("granted data actions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuiltinRoleIDs(t *testing.T) {
	a := mustNew(t, Config{Assignments: []Assignment{
		{Role: "5E0BD9BD-7B93-4F28-AF87-19FC36AD61BD", Principal: Selector{SelectObject, "u"}},
		{Role: "a001fd3d-188f-4b5d-821b-7da978bf7442", Principal: Selector{SelectObject, "c"}},
	}})
	if !a.Check(who{oid: "u"}, aChat, "d").Allowed || a.Check(who{oid: "u"}, aFilesWrite, "d").Allowed {
		t.Error("OpenAI User by ID: want chat allowed and files/write denied")
	}
	if !a.Check(who{oid: "c"}, aFilesWrite, "d").Allowed {
		t.Error("OpenAI Contributor by ID: want files/write allowed")
	}
}

func TestNotDataActionsTrimOnlyTheirRole(t *testing.T) {
	cfg := Config{
		Roles: []RoleDefinition{
			{Name: "No Embeddings", DataActions: []string{openAIDataActionPrefix + "*"}, NotDataActions: []string{"*/EMBEDDINGS/*"}},
			{Name: "Embeddings Only", DataActions: []string{aEmbeddings}},
		},
		Assignments: []Assignment{
			{Role: "no embeddings", Principal: Selector{SelectObject, "a"}},
			{Role: "No Embeddings", Principal: Selector{SelectObject, "b"}},
			{Role: "Embeddings Only", Principal: Selector{SelectGroup, "g"}},
		},
	}
	a := mustNew(t, cfg)
	tests := []struct {
		name   string
		p      who
		action string
		want   bool
	}{
		{name: "granted by wildcard", p: who{oid: "a"}, action: aChat, want: true},
		{name: "trimmed by NotDataActions", p: who{oid: "a"}, action: aEmbeddings, want: false},
		{name: "NotDataActions is not a deny", p: who{oid: "b", groups: []string{"g"}}, action: aEmbeddings, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Check(tt.p, tt.action, "d").Allowed; got != tt.want {
				t.Errorf("Allowed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckSelectorsAndScopes(t *testing.T) {
	a := mustNew(t, Config{Assignments: []Assignment{
		{Role: RoleOpenAIUser, Principal: Selector{SelectObject, "AAAA-OBJ"}, Scope: "/deployments/gpt-4o"},
		{Role: RoleOpenAIUser, Principal: Selector{SelectGroup, "GRP-1"}, Scope: "/deployments/emb-*"},
		{Role: RoleOpenAIUser, Principal: Selector{SelectAppRole, "Moat.Caller"}},
		{Role: RoleOpenAIUser, Principal: Selector{SelectClient, "cli-1"}, Scope: "/"},
		{Role: RoleMoatLogReader, Principal: Selector{SelectKey, "k1"}},
		{Role: RoleOpenAIUser, Principal: Selector{SelectObject, "k2"}},
	}})
	tests := []struct {
		name       string
		p          who
		action     string
		deployment string
		want       bool
		wantRole   string
	}{
		{name: "object id case-insensitive, in scope", p: who{oid: "aaaa-obj"}, action: aChat, deployment: "gpt-4o", want: true, wantRole: RoleOpenAIUser},
		{name: "object id out of scope", p: who{oid: "aaaa-obj"}, action: aChat, deployment: "gpt-4o-mini"},
		{name: "deployment scope does not cover listing", p: who{oid: "aaaa-obj"}, action: aModelsRead, deployment: ""},
		{name: "group glob scope", p: who{oid: "x", groups: []string{"other", "grp-1"}}, action: aEmbeddings, deployment: "emb-large", want: true, wantRole: RoleOpenAIUser},
		{name: "group glob scope miss", p: who{oid: "x", groups: []string{"grp-1"}}, action: aEmbeddings, deployment: "gpt-4o"},
		{name: "app role exact", p: who{oid: "x", roles: []string{"Moat.Caller"}}, action: aChat, deployment: "any", want: true, wantRole: RoleOpenAIUser},
		{name: "app role case differs", p: who{oid: "x", roles: []string{"moat.caller"}}, action: aChat, deployment: "any"},
		{name: "client id", p: who{oid: "x", client: "CLI-1"}, action: aChat, deployment: "any", want: true, wantRole: RoleOpenAIUser},
		{name: "nobody", p: who{oid: "x"}, action: aChat, deployment: "any"},
		{name: "empty principal", p: who{}, action: aChat, deployment: "any"},
		{name: "role lacks action", p: who{oid: "aaaa-obj"}, action: aFilesWrite, deployment: "gpt-4o"},
		{name: "key bypasses for the data plane", p: who{key: "k9"}, action: aFilesWrite, deployment: "any", want: true, wantRole: "key"},
		{name: "key needs assignment for moat actions", p: who{key: "k9"}, action: DataActionLogsRead},
		{name: "key with log reader assignment", p: who{key: "k1"}, action: DataActionLogsRead, want: true, wantRole: RoleMoatLogReader},
		{name: "key never matches object selectors", p: who{key: "k2"}, action: DataActionLogsRead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := a.Check(tt.p, tt.action, tt.deployment)
			if d.Allowed != tt.want || d.Role != tt.wantRole {
				t.Errorf("Check = %+v, want allowed=%v role=%q", d, tt.want, tt.wantRole)
			}
		})
	}
}

func TestKeysAssignedMode(t *testing.T) {
	a := mustNew(t, Config{Keys: KeysAssigned, Assignments: []Assignment{
		{Role: RoleOpenAIUser, Principal: Selector{SelectKey, "k1"}, Scope: "/deployments/gpt-4o"},
	}})
	if !a.Check(who{key: "k1"}, aChat, "gpt-4o").Allowed {
		t.Error("assigned key denied in scope")
	}
	if a.Check(who{key: "k1"}, aChat, "other").Allowed {
		t.Error("assigned key allowed out of scope")
	}
	if a.Check(who{key: "k2"}, aChat, "gpt-4o").Allowed {
		t.Error("unassigned key allowed")
	}
}

func TestDecisionErrBody(t *testing.T) {
	a := mustNew(t, Config{})
	chat, _ := openai.OperationByName("chat")
	d := a.Check(who{display: "00000000-0000-0000-0000-000000000000", oid: "00000000-0000-0000-0000-000000000000"}, chat.DataAction, "my-real-deployment")
	if d.Allowed {
		t.Fatal("allowed with no assignments")
	}
	err := d.Err(OperationTemplate(chat, false))
	var he *httpx.Error
	if !errors.As(err, &he) {
		t.Fatalf("Err = %T, want *httpx.Error", err)
	}
	want := "{\"error\":{\"code\":\"PermissionDenied\",\"message\":\"The principal `00000000-0000-0000-0000-000000000000` lacks the required data action `Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action` to perform `POST /openai/deployments/{deployment-id}/chat/completions` operation.\"}}"
	if diff := cmp.Diff(want, string(httpx.Render(openai.Errors{}, he))); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if he.Status != 401 || he.Kind != httpx.KindPolicyForbidden {
		t.Errorf("status %d kind %s, want 401 policy_forbidden", he.Status, he.Kind)
	}
	if strings.Contains(string(httpx.Render(openai.Errors{}, he)), "my-real-deployment") {
		t.Error("body names the real deployment; Azure uses the template")
	}
	if (Decision{Allowed: true}).Err("x") != nil {
		t.Error("allowed decision returned an error")
	}
}

func TestOperationTemplate(t *testing.T) {
	tests := []struct {
		op   string
		v1   bool
		want string
	}{
		{op: "chat", want: "POST /openai/deployments/{deployment-id}/chat/completions"},
		{op: "chat", v1: true, want: "POST /openai/v1/chat/completions"},
		{op: "embeddings", want: "POST /openai/deployments/{deployment-id}/embeddings"},
		{op: "transcriptions", want: "POST /openai/deployments/{deployment-id}/audio/transcriptions"},
		{op: "responses", want: "POST /openai/responses"},
		{op: "responses", v1: true, want: "POST /openai/v1/responses"},
		{op: "models", want: "GET /openai/models"},
		{op: "models", v1: true, want: "GET /openai/v1/models"},
	}
	for _, tt := range []struct{ collection, method, action, want string }{
		{"responses", "DELETE", "", "DELETE /openai/responses/{response_id}"},
		{"responses", "GET", "input_items", "GET /openai/responses/{response_id}/input_items"},
		{"files", "POST", "-", "POST /openai/files"},
		{"files", "GET", "content", "GET /openai/files/{file_id}/content"},
		{"batches", "POST", "cancel", "POST /openai/batches/{batch_id}/cancel"},
	} {
		op, ok := openai.ObjectOperation(tt.collection, tt.method, tt.action)
		if got := OperationTemplate(op, false); !ok || got != tt.want {
			t.Errorf("OperationTemplate(%s %s %s) = %q, want %q", tt.method, tt.collection, tt.action, got, tt.want)
		}
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			op, ok := openai.OperationByName(tt.op)
			if !ok {
				t.Fatalf("no operation %q", tt.op)
			}
			if got := OperationTemplate(op, tt.v1); got != tt.want {
				t.Errorf("OperationTemplate = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New(Config{
		Keys:  "sometimes",
		Roles: []RoleDefinition{{Name: RoleOpenAIUser}, {Name: ""}, {Name: "Bad", DataActions: []string{" "}}},
		Assignments: []Assignment{
			{Role: "Nope", Principal: Selector{SelectObject, "x"}},
			{Role: RoleOpenAIUser, Principal: Selector{"user", "x"}},
			{Role: RoleOpenAIUser, Principal: Selector{SelectObject, "x"}, Scope: "/subscriptions/1"},
		},
	})
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{"sometimes", "defined twice", "empty name", "empty data action", `unknown role "Nope"`, "invalid principal selector", "/subscriptions/1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in      string
		want    Selector
		wantErr bool
	}{
		{in: "object:abc", want: Selector{SelectObject, "abc"}},
		{in: "Group: g1 ", want: Selector{SelectGroup, "g1"}},
		{in: "approle:Moat.Admin", want: Selector{SelectAppRole, "Moat.Admin"}},
		{in: "client:c", want: Selector{SelectClient, "c"}},
		{in: "key:k:1", want: Selector{SelectKey, "k:1"}},
		{in: "user:x", wantErr: true},
		{in: "object:", wantErr: true},
		{in: "object", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSelector(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func BenchmarkCheck(b *testing.B) {
	var as []Assignment
	for i := range 200 {
		as = append(as, Assignment{Role: RoleOpenAIUser, Principal: Selector{SelectGroup, "group-" + string(rune('a'+i%26)) + strings.Repeat("x", i%7)}, Scope: "/deployments/emb-*"})
	}
	as = append(as, Assignment{Role: RoleOpenAIUser, Principal: Selector{SelectObject, "6f1c2d3e-0000-4000-8000-000000000001"}, Scope: "/deployments/gpt-4o*"})
	a := mustNew(b, Config{Assignments: as})
	var p Principal = who{display: "x", oid: "6f1c2d3e-0000-4000-8000-000000000001", client: "c", groups: []string{"g1", "g2", "g3"}}
	b.Run("allowed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !a.Check(p, aChat, "gpt-4o-mini").Allowed {
				b.Fatal("denied")
			}
		}
	})
	b.Run("denied", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if a.Check(p, aFilesWrite, "gpt-4o-mini").Allowed {
				b.Fatal("allowed")
			}
		}
	})
}
