package admin

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/rbac"
	"github.com/moat-gw/moat/internal/team"
)

// Data actions of the management plane that rbac does not declare. Keys
// use rbac.DataActionKeysRead and rbac.DataActionKeysWrite. All live under
// "Moat/", which only the Moat Administrator built-in role grants (Moat/*).
const (
	DataActionRolesRead  = "Moat/roles/read"
	DataActionRolesWrite = "Moat/roles/write"
	DataActionAuditRead  = "Moat/audit/read"
	DataActionTeamsRead  = "Moat/teams/read"
	DataActionTeamsWrite = "Moat/teams/write"
)

// AssignmentStore persists role assignments made through the management
// plane (those in config are not stored). The database stores implement it.
type AssignmentStore interface {
	// ListAssignments returns every stored assignment, oldest first.
	ListAssignments(ctx context.Context) ([]audit.RoleAssignment, error)
	// PutAssignment creates the assignment or replaces the one with its ID.
	PutAssignment(ctx context.Context, a audit.RoleAssignment) error
	// DeleteAssignment removes the assignment and returns it, or an error
	// wrapping audit.ErrAssignmentNotFound.
	DeleteAssignment(ctx context.Context, id string) (audit.RoleAssignment, error)
}

// AuditLog is the append-only, hash-chained audit log. The database stores
// implement it and serialize appends so that the chain never forks.
type AuditLog interface {
	// AppendAudit links r to the end of the chain (see audit.Next) and stores it.
	AppendAudit(ctx context.Context, r audit.Record) (audit.Entry, error)
	// AuditAfter returns up to limit entries with seq > afterSeq, oldest first.
	AuditAfter(ctx context.Context, afterSeq int64, limit int) ([]audit.Entry, error)
}

// Store is everything the management plane persists, in one database.
type Store interface {
	auth.KeyStore
	AssignmentStore
	AuditLog
	team.Store
}

// Options configure the Service and the HTTP API.
type Options struct {
	// Keys holds generated keys; it must be the store the gateway's
	// KeyVerifier reads.
	Keys auth.KeyStore
	// Assignments holds role assignments made through the API.
	Assignments AssignmentStore
	// Audit records every mutation.
	Audit AuditLog
	// Teams holds teams and their members; nil refuses team operations
	// and keys that name a team.
	Teams team.Store
	// TeamsChanged is called after a team or a member is added or
	// removed, so that the gateway reloads its team directory at once
	// (other replicas reload within team.DefaultRefresh). Nil does nothing.
	TeamsChanged func()
	// Hasher must be the gateway's, so that new keys verify.
	Hasher auth.Hasher
	// Roles are custom role definitions from config; the built-ins are
	// always included. Assignments may name only known roles.
	Roles []rbac.RoleDefinition
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per mutation (IDs only, never keys); nil
	// discards.
	Logger *slog.Logger
	// Invalidate is called with a key ID after it is revoked or replaced,
	// so that this replica's key cache drops it at once (the gateway
	// passes KeyVerifier.Invalidate); other replicas learn it from the
	// store's change feed (PostgreSQL LISTEN/NOTIFY) or within their cache
	// TTL. Nil does nothing.
	Invalidate func(keyID string)
	// AssignmentsChanged is called after an assignment is added or
	// removed, so that the gateway can rebuild its rbac.Authorizer. Nil
	// does nothing.
	AssignmentsChanged func()
	// Authorize authenticates an HTTP caller and checks that it holds
	// dataAction (r.Pattern is the route template, for the PermissionDenied
	// message). It returns the actor recorded in the audit log (the
	// principal's display ID); an error is written to the client with
	// httpx.Write. Nil refuses every HTTP request.
	Authorize func(r *http.Request, dataAction string) (actor string, err error)
	// ClientIP returns the caller's address for the audit log; nil means
	// the host part of r.RemoteAddr.
	ClientIP func(r *http.Request) string
}
