package audit

import (
	"errors"
	"time"
)

// ErrAssignmentNotFound is returned (wrapped) by stores for an unknown
// role assignment ID.
var ErrAssignmentNotFound = errors.New("role assignment not found")

// RoleAssignment is a role assignment made through the management plane, as
// the stores persist it: the rbac.Assignment it stands for (role,
// principal selector, scope, as text) plus who made it and when. It lives
// here, beside Entry, because the stores may import only leaf packages
// and the assignment's provenance is audit data; admin turns it into an
// rbac.Assignment with rbac.ParseSelector.
type RoleAssignment struct {
	// ID names the assignment (a GUID), as Azure's role assignment IDs do.
	ID string
	// Role is a role name or role definition ID.
	Role string
	// Principal is the selector as "kind:value" (see rbac.ParseSelector).
	Principal string
	// Scope is "/" or "/deployments/<name-or-glob>".
	Scope string
	// CreatedAt is when it was made.
	CreatedAt time.Time
	// CreatedBy is the actor who made it.
	CreatedBy string
}
