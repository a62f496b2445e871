package admin

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/rbac"
	"github.com/moat-gw/moat/internal/team"
)

// Caller is who performs a mutation, for the audit log.
type Caller struct {
	// Actor is the principal's display ID, or "cli:<os user>".
	Actor string
	// ClientIP is the caller's address; empty for the CLI.
	ClientIP string
}

// Service performs management operations against the stores and records
// each mutation in the audit log. The HTTP API and the CLI both use it, so
// they validate and audit alike. It is safe for concurrent use.
type Service struct {
	keys         auth.KeyStore
	assignments  AssignmentStore
	audit        AuditLog
	teams        team.Store
	teamsChanged func()
	hasher       auth.Hasher
	roles        []rbac.RoleDefinition // built-ins then custom
	now          func() time.Time
	log          *slog.Logger
	invalidate   func(string)
	changed      func()
	authorize    func(*http.Request, string) (string, error)
	clientIP     func(*http.Request) string
}

// NewService checks the options and returns a Service.
func NewService(o Options) (*Service, error) {
	var errs []error
	if o.Keys == nil {
		errs = append(errs, errors.New("no key store"))
	}
	if o.Assignments == nil {
		errs = append(errs, errors.New("no assignment store"))
	}
	if o.Audit == nil {
		errs = append(errs, errors.New("no audit log"))
	}
	if _, err := rbac.New(rbac.Config{Roles: o.Roles}); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	s := &Service{
		keys:         o.Keys,
		assignments:  o.Assignments,
		audit:        o.Audit,
		teams:        o.Teams,
		teamsChanged: o.TeamsChanged,
		hasher:       o.Hasher,
		roles:        append(rbac.BuiltinRoles(), o.Roles...),
		now:          o.Now,
		log:          o.Logger,
		invalidate:   o.Invalidate,
		changed:      o.AssignmentsChanged,
		authorize:    o.Authorize,
		clientIP:     o.ClientIP,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.invalidate == nil {
		s.invalidate = func(string) {}
	}
	if s.teamsChanged == nil {
		s.teamsChanged = func() {}
	}
	if s.changed == nil {
		s.changed = func() {}
	}
	return s, nil
}

// newGUID returns a random (version 4) GUID, the shape of Azure's role
// assignment IDs.
func newGUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
