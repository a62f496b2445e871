package gateway

import (
	"net/http"

	"github.com/moat-gw/moat/internal/admin"
)

// guardManagement puts the management plane behind admin.Guard: the Host
// allow-list (management.allowed_hosts, as currently loaded) and the CSRF
// checks on state changes. The KQL query endpoints are POSTs that change
// nothing and accept plain text, so they skip the CSRF checks.
func (s *Server) guardManagement(next http.Handler) http.Handler {
	return admin.Guard(admin.GuardOptions{
		AllowedHosts: func() []string { return s.cfg.Load().Management.AllowedHosts },
		ReadOnly: func(r *http.Request) bool {
			return r.URL.Path == "/api/query" || r.URL.Path == "/dashboard/api/query"
		},
	}, next)
}

// guardNetwork applies the network rules of listener before next: to the
// management plane, so the admin API and metrics are never more reachable
// than the data plane, and to health probes on data listeners.
func (s *Server) guardNetwork(listener string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.pipe.Load().RefuseNetwork(w, r, listener) {
			return
		}
		next.ServeHTTP(w, r)
	})
}
