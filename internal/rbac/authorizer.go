package rbac

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// Principal is the caller as RBAC sees it. rbac declares it, rather than
// importing auth, so that both policy packages stay leaves; *auth.Principal
// implements it. Empty strings and nil slices mean "not present".
type Principal interface {
	// DisplayID names the principal in the PermissionDenied message.
	DisplayID() string
	// ObjectID is the token's oid (or sub), empty for keys.
	ObjectID() string
	// ClientID is the token's appid/azp, empty for keys.
	ClientID() string
	// CredentialKeyID is the API key ID, empty for tokens.
	CredentialKeyID() string
	// GroupIDs are the token's groups claim values.
	GroupIDs() []string
	// AppRoles are the token's roles claim values.
	AppRoles() []string
}

// grant is one compiled assignment.
type grant struct {
	role  *compiledRole
	scope scope
	raw   string // the scope as configured, for the decision log
}

// Authorizer decides whether a principal may perform a data action on a
// deployment. It is immutable once built; a config reload builds a new one.
type Authorizer struct {
	// index maps selector kind → normalized value → grants.
	index    map[SelectorKind]map[string][]grant
	keysMode KeyMode
}

// New compiles the roles and assignments. It reports every problem at once.
func New(cfg Config) (*Authorizer, error) {
	var errs []error
	byName := map[string]*compiledRole{}
	byID := map[string]*compiledRole{}
	for _, d := range append(BuiltinRoles(), cfg.Roles...) {
		if err := validateRole(d); err != nil {
			errs = append(errs, err)
			continue
		}
		name := strings.ToLower(d.Name)
		if _, dup := byName[name]; dup {
			errs = append(errs, fmt.Errorf("role %q defined twice", d.Name))
			continue
		}
		r := compileRole(d)
		byName[name] = r
		if d.ID != "" {
			id := strings.ToLower(d.ID)
			if _, dup := byID[id]; dup {
				errs = append(errs, fmt.Errorf("role %q: id %q used twice", d.Name, d.ID))
			}
			byID[id] = r
		}
	}
	a := &Authorizer{index: map[SelectorKind]map[string][]grant{}, keysMode: cfg.Keys}
	switch cfg.Keys {
	case "":
		a.keysMode = KeysBypass
	case KeysBypass, KeysAssigned:
	default:
		errs = append(errs, fmt.Errorf("key mode %q: want bypass or assigned", cfg.Keys))
	}
	for i, as := range cfg.Assignments {
		r := byName[strings.ToLower(as.Role)]
		if r == nil {
			r = byID[strings.ToLower(as.Role)]
		}
		if r == nil {
			errs = append(errs, fmt.Errorf("assignment %d: unknown role %q", i, as.Role))
		}
		sc, err := parseScope(as.Scope)
		if err != nil {
			errs = append(errs, fmt.Errorf("assignment %d: %w", i, err))
		}
		if !validKind(as.Principal.Kind) || strings.TrimSpace(as.Principal.Value) == "" {
			errs = append(errs, fmt.Errorf("assignment %d: invalid principal selector %q", i, as.Principal))
		}
		if r == nil || err != nil {
			continue
		}
		m := a.index[as.Principal.Kind]
		if m == nil {
			m = map[string][]grant{}
			a.index[as.Principal.Kind] = m
		}
		v := normalize(as.Principal.Kind, as.Principal.Value)
		raw := as.Scope
		if raw == "" {
			raw = "/"
		}
		m[v] = append(m[v], grant{role: r, scope: sc, raw: raw})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("rbac config: %w", err)
	}
	return a, nil
}

func validKind(k SelectorKind) bool {
	for _, kk := range selectorKinds() {
		if k == kk {
			return true
		}
	}
	return false
}

// normalize lowers GUID-valued selectors. strings.ToLower returns its input
// unchanged (no allocation) when it is already lower case, as tokens are.
func normalize(k SelectorKind, v string) string {
	switch k {
	case SelectObject, SelectGroup, SelectClient:
		return strings.ToLower(strings.TrimSpace(v))
	default:
		return strings.TrimSpace(v)
	}
}

// Decision is the outcome of one check, with what the log and the 401 body need.
type Decision struct {
	// Allowed is true when some assignment (or the key bypass) grants the action.
	Allowed bool
	// Principal is the principal's DisplayID.
	Principal string
	// DataAction is the data action checked; when denied, the missing one.
	DataAction string
	// Role is the granting role name ("" when denied; "key" for the key bypass).
	Role string
	// Scope is the granting assignment's scope as configured.
	Scope string
}

// Check decides whether p may perform dataAction on deployment (empty for
// operations that name no deployment). Deny by default.
func (a *Authorizer) Check(p Principal, dataAction, deployment string) Decision {
	d := Decision{Principal: p.DisplayID(), DataAction: dataAction}
	keyID := p.CredentialKeyID()
	if keyID != "" && a.keysMode == KeysBypass && hasPrefixFold(dataAction, cognitiveServicesActionPrefix) {
		d.Allowed, d.Role, d.Scope = true, "key", "/"
		return d
	}
	try := func(k SelectorKind, v string) bool {
		if v == "" {
			return false
		}
		for _, g := range a.index[k][normalize(k, v)] {
			if g.scope.covers(deployment) && g.role.grants(dataAction) {
				d.Allowed, d.Role, d.Scope = true, g.role.name, g.raw
				return true
			}
		}
		return false
	}
	if keyID != "" {
		// A key principal is only its key ID: token selectors never match it.
		try(SelectKey, keyID)
		return d
	}
	if c, ok := p.(interface{ CertificateName() string }); ok && c.CertificateName() != "" {
		// Likewise a certificate principal is only its certificate's name.
		try(SelectCert, c.CertificateName())
		return d
	}
	if try(SelectObject, p.ObjectID()) || try(SelectClient, p.ClientID()) {
		return d
	}
	for _, g := range p.GroupIDs() {
		if try(SelectGroup, g) {
			return d
		}
	}
	for _, r := range p.AppRoles() {
		if try(SelectAppRole, r) {
			return d
		}
	}
	return d
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// Err returns nil when the decision allows, else Azure's 401 PermissionDenied
// (wire reference §2.4) for the templated operation, e.g.
// "POST /openai/deployments/{deployment-id}/chat/completions" (see
// OperationTemplate).
func (d Decision) Err(operation string) error {
	if d.Allowed {
		return nil
	}
	return DeniedError(d.Principal, d.DataAction, operation)
}

// DeniedError builds the 401 PermissionDenied error. Azure answers RBAC
// denials with 401, not 403 (§2.4). operation is "METHOD /templated/path".
func DeniedError(principal, dataAction, operation string) *httpx.Error {
	method, path, _ := strings.Cut(operation, " ")
	msg := openai.PermissionDeniedMessage(principal, dataAction, method, path)
	return httpx.FrontDoor(http.StatusUnauthorized, httpx.KindPolicyForbidden, "PermissionDenied", msg,
		fmt.Errorf("principal %s lacks data action %s", principal, dataAction))
}

// OperationTemplate is the "METHOD path" Azure names in PermissionDenied:
// the path template with {deployment-id} literally, never the real name.
// Resource-scoped operations (Responses, model listing) name no
// deployment on either surface.
func OperationTemplate(op openai.Operation, v1 bool) string {
	switch {
	case v1:
		return op.Method + " /openai/v1/" + op.Suffix
	case op.ResourceScoped:
		return op.Method + " /openai/" + op.Suffix
	default:
		return op.Method + " /openai/deployments/{deployment-id}/" + op.Suffix
	}
}
