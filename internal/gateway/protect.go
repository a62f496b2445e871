package gateway

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/rbac"
	"github.com/moat-gw/moat/internal/reqlog"
)

// contentAccess returns the query API's content hooks: a request may read
// prompt text when its principal holds Moat/logs/content/read, and every
// such read is appended to the audit log first.
func (s *Server) contentAccess() (func(*http.Request) bool, func(*http.Request, string, string, int) error) {
	al := s.store
	content := func(r *http.Request) bool {
		_, err := s.pipe.Load().AuthorizeManagement(r, rbac.DataActionLogsContentRead)
		return err == nil
	}
	record := func(r *http.Request, actor, query string, rows int) error {
		p := s.pipe.Load()
		q := p.RedactText([]byte(query)) // the audit log is kept for ever: no personal data in it
		details, err := json.Marshal(map[string]any{"query": reqlog.Truncated(string(q), 2048), "rows": rows})
		if err != nil {
			return err
		}
		_, err = al.AppendAudit(context.WithoutCancel(r.Context()), audit.Record{
			Time: s.now(), Actor: actor, Action: audit.ActionLogsContentRead, Target: r.URL.Path,
			Details: details, ClientIP: p.ClientAddr(r).String(),
		})
		return err
	}
	return content, record
}
