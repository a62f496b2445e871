package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/logquery"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/studio"
)

// listenerKindKey carries the kind of the management listener a request
// arrived on, for the studio's public-listener check.
type listenerKindKey struct{}

// withListenerKind marks requests with the listener's kind.
func withListenerKind(kind string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), listenerKindKey{}, kind)))
	})
}

var errStudioPublic = httpx.FrontDoor(http.StatusForbidden, httpx.KindPolicyNetwork, "403",
	"The studio is not served on public listeners. Use a private management listener, or set management.studio.allow_public.",
	errors.New("studio refused on a public management listener"))

// mountStudio adds the studio at /studio/. It acts through the admin API,
// the data-plane pipeline and the query API with the signed-in principal's
// credential; OIDC and session-store settings apply at restart, the rest
// follows reloads.
func (s *Server) mountStudio(mux *http.ServeMux, query func(context.Context, string) (*logquery.Result, error), admit func(string) (func(), error)) {
	cfg := s.cfg.Load()
	var oidc *studio.OIDC
	if disc, scopes, ok := cfg.StudioOIDCEndpoints(); ok {
		o := cfg.Management.Studio.OIDC
		oidc = &studio.OIDC{DiscoveryURL: disc, ClientID: o.ClientID, ClientSecret: o.ClientSecret.Value(),
			Scopes: scopes, RedirectURL: o.RedirectURL}
	}
	adminAPI := s.admin
	if adminAPI == nil {
		adminAPI = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			httpx.WriteError(w, openai.Errors{}, httpx.FrontDoor(http.StatusNotFound, httpx.KindClientNotFound, "404", "Key and role management needs a store that keeps identities (SQLite or PostgreSQL).", nil))
		})
	}
	var sessions studio.SessionStore
	if cfg.Management.Studio.Sessions == "redis" && s.redis != nil {
		rs, err := studio.NewRedisSessions(s.redis, []byte(cfg.Auth.Pepper.Value()), s.now)
		if err != nil {
			s.log.Error("studio not mounted", "err", err)
			return
		}
		sessions = rs
	}
	st, err := studio.New(studio.Options{
		OIDC:     oidc,
		Sessions: sessions,
		KeySignIn: func() bool {
			c := s.cfg.Load()
			return !c.Auth.Disabled && !c.Auth.DisableLocalAuth && !c.Management.Studio.DisableKeySignIn
		},
		Anonymous:  func() bool { return s.pipe.Load().Anonymous() },
		SessionTTL: cfg.Management.Studio.SessionTTL.D(),
		Refuse: func(r *http.Request) error {
			if kind, _ := r.Context().Value(listenerKindKey{}).(string); kind == "public" && !s.cfg.Load().Management.Studio.AllowPublic {
				return errStudioPublic
			}
			return nil
		},
		Identify: func(r *http.Request) (studio.Identity, error) {
			pr, err := s.pipe.Load().Identify(r)
			switch {
			case err != nil:
				return studio.Identity{}, err
			case pr == nil:
				return studio.Identity{Principal: "anonymous", AuthType: "none"}, nil
			}
			name := pr.DisplayID()
			if pr.Type == auth.TypeKey && pr.Name != "" {
				name = pr.Name + " (" + pr.ID + ")"
			}
			return studio.Identity{Principal: name, AuthType: pr.Type}, nil
		},
		Authorize: func(r *http.Request, action string) (string, error) {
			return s.pipe.Load().AuthorizeManagement(r, action)
		},
		Admin:       adminAPI,
		Data:        http.HandlerFunc(s.serveStudioCall),
		Deployments: s.studioDeployments,
		Status:      s.statusDoc,
		Query:       query,
		Admit:       admit,
		Now:         s.now,
		Logger:      s.log.With("component", "studio"),
	})
	if err != nil {
		s.log.Error("studio not mounted", "err", err)
		return
	}
	mux.Handle("/studio/", st)
	mux.Handle("/studio", st)
}

// serveStudioCall runs a playground call through the whole data-plane
// pipeline, on the first private data listener (else the first one), as
// if the browser had called it there with the principal's credential.
func (s *Server) serveStudioCall(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	s.pipe.Load().ServeHTTP(w, r, studioListener(s.cfg.Load()))
}

func studioListener(cfg *config.Config) string {
	for _, l := range cfg.Listeners {
		if l.Kind == "private_endpoint" {
			return l.Name
		}
	}
	if len(cfg.Listeners) > 0 {
		return cfg.Listeners[0].Name
	}
	return ""
}

// studioDeployments lists the deployments and whether the credential on r
// may call chat completions on each, checked like a call (key scope, then
// role assignments), without making one.
func (s *Server) studioDeployments(r *http.Request) ([]studio.Deployment, error) {
	p := s.pipe.Load()
	pr, err := p.Identify(r)
	if err != nil {
		return nil, err
	}
	var out []studio.Deployment
	for _, d := range p.Access(pr) {
		out = append(out, studio.Deployment{Name: d.Name, Model: d.Model, Allowed: d.Allowed})
	}
	return out, nil
}
