package auth

import (
	"errors"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// Principal types. They are also the request log's auth type.
const (
	TypeKey   = "key"
	TypeEntra = "entra"
	TypeOIDC  = "oidc"
	// TypeCert is a client certificate verified by a listener's client_ca_file.
	TypeCert = "cert"
)

// Principal is an authenticated caller: an API key or a token's subject. It
// is the one principal type in moat; rbac reads it through rbac.Principal.
type Principal struct {
	// Type is TypeKey, TypeEntra or TypeOIDC.
	Type string
	// ID is the key ID for keys, the oid (or sub) for tokens.
	ID string
	// TenantID is the token's tid.
	TenantID string
	// AppID is the token's appid (v1) or azp (v2): the calling client.
	AppID string
	// Roles are the token's app roles (roles claim).
	Roles []string
	// Groups are the token's group object IDs (groups claim). Entra omits
	// the claim when a user has too many groups ("overage"); moat does not
	// call Graph to resolve those.
	Groups []string
	// Scopes are the token's delegated scopes (scp claim).
	Scopes []string
	// KeyID is the API key ID for key principals, empty for tokens.
	KeyID string
	// Name is the user's UPN (or preferred_username) for user tokens, or
	// the key's name for keys.
	Name string
	// AppOnly is true for tokens without a user (idtyp app, or no UPN).
	AppOnly bool

	key *Key
}

// DisplayID names the principal the way Azure's PermissionDenied message
// does (wire reference §2.4): the UPN for user tokens, the object ID for
// applications and managed identities, the key ID for keys.
func (p *Principal) DisplayID() string {
	if p.Type != TypeKey && !p.AppOnly && p.Name != "" {
		return p.Name
	}
	return p.ID
}

// ObjectID is the token's oid (or sub); empty for keys. It implements rbac.Principal.
func (p *Principal) ObjectID() string {
	if p.Type == TypeKey || p.Type == TypeCert {
		return ""
	}
	return p.ID
}

// CertificateName is the client certificate's name for certificate
// principals, empty otherwise; rbac's cert: selectors match it.
func (p *Principal) CertificateName() string {
	if p.Type != TypeCert {
		return ""
	}
	return p.ID
}

// ClientID is the calling application; empty for keys. It implements rbac.Principal.
func (p *Principal) ClientID() string { return p.AppID }

// CredentialKeyID is the key ID for key principals. It implements rbac.Principal.
func (p *Principal) CredentialKeyID() string { return p.KeyID }

// GroupIDs returns Groups. It implements rbac.Principal.
func (p *Principal) GroupIDs() []string { return p.Groups }

// AppRoles returns Roles. It implements rbac.Principal.
func (p *Principal) AppRoles() []string { return p.Roles }

// Key is the API key behind a key principal (nil for tokens), for its
// limits (Key.Limits) and scope.
func (p *Principal) Key() *Key { return p.key }

// CheckKeyScope enforces a key principal's own deployment and operation
// lists; it is nil for token principals. deployment is the requested
// deployment (path or body model; empty for operations that name none),
// operation is the "METHOD /templated/path" of rbac.OperationTemplate.
//
// A scoped-away request gets Azure's 401 PermissionDenied body (§2.4) naming
// the key ID and the operation's data action: the closest Azure shape for
// "this credential may not do that". A key that expired or was revoked
// since it was authenticated gets the invalid-key 401 (§2.1).
func (p *Principal) CheckKeyScope(deployment string, op openai.Operation, operation string, now time.Time) error {
	if p.Type != TypeKey {
		return nil
	}
	if p.key == nil {
		// Only Authenticate makes key principals; anything else fails closed.
		return invalidKey(errors.New("key principal without a verified key"))
	}
	err := p.key.Allows(deployment, op.Name, now)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrKeyScope):
		method, path, _ := strings.Cut(operation, " ")
		msg := openai.PermissionDeniedMessage(p.DisplayID(), op.DataAction, method, path)
		return httpx.FrontDoor(401, httpx.KindPolicyForbidden, "PermissionDenied", msg, err)
	default:
		return invalidKey(err)
	}
}
