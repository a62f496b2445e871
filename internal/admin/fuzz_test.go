package admin

import (
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/rbac"
)

// FuzzKeyRequest feeds arbitrary bodies to the create-key decoder and
// validator: they must never panic, and what they accept must be clean.
func FuzzKeyRequest(f *testing.F) {
	f.Add([]byte(`{"name":"ci","deployments":["gpt-4o*"],"operations":["Chat"],"limits":{"tpm":5}}`))
	f.Add([]byte(`{"name":"  x ","expires_at":"2030-01-01T00:00:00Z","operations":["embeddings","EMBEDDINGS"]}`))
	f.Add([]byte(`{"name":"\u0000"}`))
	f.Add([]byte(`[]`))
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		var req KeyRequest
		if err := decodeJSON(body, &req, false); err != nil {
			if !IsRequestError(err) {
				t.Fatalf("decode error is not a RequestError: %v", err)
			}
			return
		}
		err := req.normalize(now)
		if err != nil {
			if !IsRequestError(err) {
				t.Fatalf("validation error is not a RequestError: %v", err)
			}
			return
		}
		if req.Name == "" || req.Name != strings.TrimSpace(req.Name) || !printable(req.Name) {
			t.Errorf("accepted name %q", req.Name)
		}
		for _, op := range req.Operations {
			if _, ok := openai.OperationByName(op); !ok {
				t.Errorf("accepted operation %q", op)
			}
		}
		for _, d := range req.Deployments {
			if d == "" || strings.ContainsAny(d, "/ \t") {
				t.Errorf("accepted deployment %q", d)
			}
		}
	})
}

// FuzzAssignmentRequest checks that whatever compile accepts, rbac compiles.
func FuzzAssignmentRequest(f *testing.F) {
	f.Add("Cognitive Services OpenAI User", "object:6f1c0000-0000-0000-0000-000000000001", "/deployments/gpt-4o*")
	f.Add("moat administrator", "appRole:Moat.Admin", "/")
	f.Add("x", "key:", "/deployments/")
	s := &Service{roles: rbac.BuiltinRoles()} // compile reads only the roles
	f.Fuzz(func(t *testing.T, role, principal, scope string) {
		a, err := s.compile(AssignmentRequest{Role: role, Principal: principal, Scope: scope})
		if err != nil {
			if !IsRequestError(err) {
				t.Fatalf("compile error is not a RequestError: %v", err)
			}
			return
		}
		if _, err := s.Authorizer([]audit.RoleAssignment{a}); err != nil {
			t.Errorf("accepted %+v that rbac refuses: %v", a, err)
		}
	})
}
