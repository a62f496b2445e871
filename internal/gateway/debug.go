package gateway

import (
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/rbac"
)

// maxProfileSeconds bounds a CPU profile or trace taken through the
// management plane, so a forgotten request cannot keep the profiler on.
const maxProfileSeconds = 60

// mountDebug serves Go's runtime profiles under /debug/pprof/ on the
// management plane, for a caller granted Moat/debug/read, so a profile can
// be taken from a running gateway inside the closed network. The handlers
// are net/http/pprof's; the DefaultServeMux that package registers on is
// never served by moat.
func (s *Server) mountDebug(mux *http.ServeMux) {
	mux.Handle("GET /debug/pprof/", s.authorizedDebug(http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/cmdline", s.authorizedDebug(http.HandlerFunc(pprof.Cmdline)))
	mux.Handle("GET /debug/pprof/profile", s.authorizedDebug(boundSeconds(http.HandlerFunc(pprof.Profile))))
	mux.Handle("GET /debug/pprof/symbol", s.authorizedDebug(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("GET /debug/pprof/trace", s.authorizedDebug(boundSeconds(http.HandlerFunc(pprof.Trace))))
}

// authorizedDebug lets through callers that may read profiles, and answers
// others as the rest of the management plane does.
func (s *Server) authorizedDebug(next http.Handler) http.Handler {
	return httpx.Handler(openai.Errors{}, nil, func(w http.ResponseWriter, r *http.Request) error {
		if _, err := s.pipe.Load().AuthorizeManagement(r, rbac.DataActionDebugRead); err != nil {
			return err
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// boundSeconds refuses a profile longer than maxProfileSeconds.
func boundSeconds(next http.Handler) http.Handler {
	return httpx.Handler(openai.Errors{}, nil, func(w http.ResponseWriter, r *http.Request) error {
		if v := r.URL.Query().Get("seconds"); v != "" {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n <= 0 || n > maxProfileSeconds {
				return httpx.Model(http.StatusBadRequest, httpx.KindClientBadRequest,
					"seconds must be a whole number from 1 to "+strconv.Itoa(maxProfileSeconds)+".", "invalid_request_error", "seconds", "", nil)
			}
		}
		next.ServeHTTP(w, r)
		return nil
	})
}
