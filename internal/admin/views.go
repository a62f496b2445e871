package admin

import (
	"errors"
	"time"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/auth"
)

// KeyView is a key as the API shows it: metadata only, never the hash. Key
// holds the plaintext only in the response that creates it.
type KeyView struct {
	ID          string     `json:"id"`
	Key         string     `json:"key,omitempty"`
	Name        string     `json:"name"`
	Owner       string     `json:"owner"`
	Team        string     `json:"team"`
	Description string     `json:"description"`
	Deployments []string   `json:"deployments"`
	Operations  []string   `json:"operations"`
	ExpiresAt   *time.Time `json:"expires_at"`
	RevokedAt   *time.Time `json:"revoked_at"`
	CreatedAt   time.Time  `json:"created_at"`
	Limits      Limits     `json:"limits"`
	// Status is "active", "revoking" (revocation scheduled), "revoked" or "expired".
	Status string `json:"status"`
	// Replaces is the ID of the key a regenerate replaced.
	Replaces string `json:"replaces,omitempty"`
}

// ViewKey renders k's metadata as of now.
func ViewKey(k *auth.Key, now time.Time) KeyView {
	v := KeyView{
		ID: k.ID, Name: k.Name, Owner: k.Owner, Team: k.Team, Description: k.Description,
		Deployments: nonNil(k.Deployments), Operations: nonNil(k.Operations),
		CreatedAt: k.CreatedAt, Limits: Limits{TPM: k.Limits.TPM, RPM: k.Limits.RPM}, Status: KeyStatus(k, now),
	}
	if !k.ExpiresAt.IsZero() {
		t := k.ExpiresAt
		v.ExpiresAt = &t
	}
	if !k.RevokedAt.IsZero() {
		t := k.RevokedAt
		v.RevokedAt = &t
	}
	return v
}

// KeyStatus is "active", "revoking", "revoked" or "expired" at now.
func KeyStatus(k *auth.Key, now time.Time) string {
	switch err := k.Active(now); {
	case errors.Is(err, auth.ErrKeyRevoked):
		return "revoked"
	case errors.Is(err, auth.ErrKeyExpired):
		return "expired"
	case !k.RevokedAt.IsZero():
		return "revoking"
	default:
		return "active"
	}
}

// RoleView is a role definition as the API shows it.
type RoleView struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	DataActions    []string `json:"data_actions"`
	NotDataActions []string `json:"not_data_actions"`
	Builtin        bool     `json:"builtin"`
}

// AssignmentView is a stored role assignment as the API shows it.
type AssignmentView struct {
	ID        string    `json:"id"`
	Role      string    `json:"role"`
	Principal string    `json:"principal"`
	Scope     string    `json:"scope"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// ViewAssignment renders a stored assignment.
func ViewAssignment(a audit.RoleAssignment) AssignmentView {
	return AssignmentView{ID: a.ID, Role: a.Role, Principal: a.Principal, Scope: a.Scope, CreatedAt: a.CreatedAt, CreatedBy: a.CreatedBy}
}
