package gateway

import (
	"context"
	"net/http"
	"runtime"

	"github.com/moat-gw/moat/internal/dashboard"
	"github.com/moat-gw/moat/internal/logquery"
	"github.com/moat-gw/moat/internal/store"
)

// logQuery runs KQL on the request-log store. The rollup a query reads
// counts every record written before it (store.FlushRollup); when that
// flush fails, the query reads the log alone, slower but exact.
func (s *Server) logQuery() func(ctx context.Context, q string) (*logquery.Result, error) {
	db, d := store.KQL(s.store)
	return func(ctx context.Context, q string) (*logquery.Result, error) {
		opts, err := store.KQLOptions(ctx, s.store)
		if err != nil {
			s.log.Warn("request log rollup flush failed; the query reads the log alone", "err", err)
		}
		return logquery.RunOptions(ctx, db, d, q, s.now(), opts)
	}
}

// mountObservability adds the KQL query API and the dashboard to the
// management mux. Both need Moat/logs/read (the Moat Log Reader role). It
// returns the gated query function and its admission, for the studio.
func (s *Server) mountObservability(mux *http.ServeMux) (func(context.Context, string) (*logquery.Result, error), func(string) (func(), error)) {
	query := s.logQuery()
	authorize := func(r *http.Request, action string) (string, error) {
		return s.pipe.Load().AuthorizeManagement(r, action)
	}
	// Queries are admitted per request under management.query's caps and
	// run a few statements at a time, so they cannot starve the data plane.
	workers := s.cfg.Load().Management.Query.Workers
	if workers == 0 {
		workers = logquery.DefaultWorkers(runtime.GOMAXPROCS(0))
	}
	limiter := logquery.NewLimiter(workers, func() logquery.Limits {
		q := s.cfg.Load().Management.Query
		return logquery.Limits{MaxConcurrent: q.MaxConcurrent, MaxPerPrincipal: q.MaxPerPrincipal}
	})
	query = limiter.Gate(query)
	content, auditContent := s.contentAccess()
	mux.Handle("/api/query", logquery.Handler(logquery.HandlerOptions{Authorize: authorize, Query: query, Logger: s.log, Admit: limiter.Admit,
		Content: content, AuditContent: auditContent}))
	mux.Handle("/dashboard/", dashboard.New(dashboard.Options{
		Prefix: "/dashboard", Authorize: authorize, Query: query, Now: s.now, Logger: s.log.With("component", "dashboard"),
		Admit: limiter.Admit, Content: content, AuditContent: auditContent,
		Upstreams: func() []dashboard.UpstreamStatus {
			var out []dashboard.UpstreamStatus
			for _, u := range s.Status() {
				out = append(out, dashboard.UpstreamStatus{Pool: u.Deployment, Name: u.Upstream, State: u.State,
					Available: u.Available, BenchedUntil: u.BenchedUntil, OpenUntil: u.OpenUntil, ConsecutiveFailures: u.ConsecutiveFailures})
			}
			return out
		},
	}))
	return query, limiter.Admit
}
