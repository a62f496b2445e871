package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/moat-gw/moat/internal/admin"
)

// assignmentRefresh is how often stored role assignments are re-read, so an
// assignment made on another replica applies here within this time (a change
// made through this replica applies at once).
const assignmentRefresh = 15 * time.Second

// newAdmin builds the admin API over the store. Every call authenticates
// through the current pipeline's identity and needs a Moat/* data action.
func (s *Server) newAdmin(st admin.Store) (http.Handler, error) {
	cfg := s.cfg.Load()
	rc, err := cfg.Auth.RBAC()
	if err != nil {
		return nil, err
	}
	svc, err := admin.NewService(admin.Options{
		Keys: st, Assignments: st, Audit: st,
		Hasher: s.pipe.Load().Hasher(),
		Roles:  rc.Roles,
		Now:    s.now, Logger: s.log.With("component", "admin"),
		Invalidate:         func(id string) { s.pipe.Load().InvalidateKey(id) },
		AssignmentsChanged: func() { s.refreshAssignments(context.Background()) },
		Authorize: func(r *http.Request, action string) (string, error) {
			return s.pipe.Load().AuthorizeManagement(r, action)
		},
		ClientIP: func(r *http.Request) string {
			return s.pipe.Load().ClientAddr(r).String()
		},
	})
	if err != nil {
		return nil, err
	}
	return svc.Handler(), nil
}

// refreshAssignments re-reads stored role assignments into the current pipeline.
func (s *Server) refreshAssignments(ctx context.Context) {
	if err := s.pipe.Load().RefreshAssignments(ctx); err != nil {
		s.log.Warn("refresh role assignments; keeping the previous ones", "err", err)
	}
}

// watchAssignments refreshes stored assignments until ctx ends.
func (s *Server) watchAssignments(ctx context.Context) {
	t := time.NewTicker(assignmentRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.refreshAssignments(ctx)
		}
	}
}
