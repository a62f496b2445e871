package studio

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/logquery"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/webui"
)

//go:embed assets
var assetFS embed.FS

// csp allows the page its own files only: no inline script or style, no
// CDN, no framing, and forms post nowhere.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// DefaultSessionTTL is how long a sign-in lasts unless configured.
const DefaultSessionTTL = 8 * time.Hour

// loginTTL bounds a pending sign-in (the round trip to the issuer).
const loginTTL = 10 * time.Minute

// Identity is who a credential authenticates as.
type Identity struct {
	// Principal is the display ID (UPN, object ID or key ID).
	Principal string
	// AuthType is the principal type ("key", "entra", "oidc", "none").
	AuthType string
}

// Deployment is one deployment in the playground's list.
type Deployment struct {
	Name  string `json:"name"`
	Model string `json:"model"`
	// Allowed is whether the principal may call its chat completions.
	Allowed bool `json:"allowed"`
}

// Options configure the studio. The func hooks receive a request that
// carries the signed-in principal's credential (api-key or Authorization
// header) and nothing else of the browser's credentials; they are where
// the gateway authenticates and authorizes it.
type Options struct {
	// Prefix is the mount path without the trailing slash (default "/studio").
	Prefix string
	// OIDC enables sign-in with an issuer; nil offers none.
	OIDC *OIDC
	// KeySignIn offers signing in with an API key (for automation and
	// setups without an issuer).
	KeySignIn func() bool
	// Anonymous reports that the gateway accepts calls without
	// credentials (auth.disabled): the studio then signs nobody in and
	// asks for nothing.
	Anonymous func() bool
	// SessionTTL is a session's longest life (default DefaultSessionTTL);
	// a session also ends when its access token expires.
	SessionTTL time.Duration
	// Sessions keeps sessions; nil means NewMemorySessions.
	Sessions SessionStore
	// Refuse, when set, may refuse a request before anything else, for
	// example one that arrived on a public listener; the error is written
	// with httpx.
	Refuse func(r *http.Request) error
	// Identify authenticates the credential on r. Required.
	Identify func(r *http.Request) (Identity, error)
	// Authorize checks that the credential on r holds dataAction at
	// gateway scope and returns the actor. Required.
	Authorize func(r *http.Request, dataAction string) (actor string, err error)
	// Admin is the admin API (routes under /admin/). Required.
	Admin http.Handler
	// Data serves a data-plane call through the full pipeline. Required.
	Data http.Handler
	// Deployments lists the deployments and whether the credential may
	// call each. Required.
	Deployments func(r *http.Request) ([]Deployment, error)
	// Status is the document /status serves (pools, health, breakers,
	// config fingerprint, reloads). Required.
	Status func(ctx context.Context) any
	// Query runs KQL; nil leaves the calls view without data.
	Query func(ctx context.Context, query string) (*logquery.Result, error)
	// Admit admits a query for an actor (logquery.Limiter.Admit); optional.
	Admit func(actor string) (release func(), err error)
	// APIVersion is the api-version of playground calls (default 2024-10-21).
	APIVersion string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives sign-ins and failures (never credentials); nil discards.
	Logger *slog.Logger
}

// Studio is the studio's HTTP handler.
type Studio struct {
	o        Options
	sessions SessionStore
	oidc     *provider
	h        http.Handler
}

// New returns the studio. Mount it at Options.Prefix + "/".
func New(o Options) (*Studio, error) {
	var errs []error
	for name, missing := range map[string]bool{"Identify": o.Identify == nil, "Authorize": o.Authorize == nil,
		"Admin": o.Admin == nil, "Data": o.Data == nil, "Deployments": o.Deployments == nil, "Status": o.Status == nil} {
		if missing {
			errs = append(errs, errors.New("studio: "+name+" is required"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.Prefix == "" {
		o.Prefix = "/studio"
	}
	o.Prefix = strings.TrimSuffix(o.Prefix, "/")
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.KeySignIn == nil {
		o.KeySignIn = func() bool { return false }
	}
	if o.Anonymous == nil {
		o.Anonymous = func() bool { return false }
	}
	if o.APIVersion == "" {
		o.APIVersion = "2024-10-21"
	}
	s := &Studio{o: o, sessions: o.Sessions}
	if s.sessions == nil {
		s.sessions = NewMemorySessions(o.Now)
	}
	if o.OIDC != nil {
		s.oidc = newProvider(*o.OIDC)
	}
	s.h = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Studio) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

func (s *Studio) routes() http.Handler {
	assets, _ := fs.Sub(assetFS, "assets") // cannot fail: the folder is embedded
	files := http.FileServerFS(assets)
	p := s.o.Prefix
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p+"/login", s.login)
	mux.HandleFunc("GET "+p+"/callback", s.callback)
	mux.HandleFunc("GET "+p+"/api/session", s.session)
	mux.HandleFunc("POST "+p+"/api/login/key", s.loginKey)
	mux.Handle("POST "+p+"/api/logout", s.signedIn(s.logout))
	mux.Handle("GET "+p+"/api/deployments", s.signedIn(s.deployments))
	mux.Handle("POST "+p+"/api/chat/{deployment}", s.signedIn(s.chat))
	mux.Handle("GET "+p+"/api/status", s.signedIn(s.status))
	mux.Handle("POST "+p+"/api/query", s.signedIn(s.query))
	mux.Handle(p+"/api/admin/", s.signedIn(s.admin))
	mux.HandleFunc(p+"/api/", func(w http.ResponseWriter, _ *http.Request) {
		writeErr(w, httpx.FrontDoor(http.StatusNotFound, httpx.KindClientNotFound, "404", openai.MsgResourceNotFound, nil))
	})
	webui.Handle(mux, p)
	static := http.StripPrefix(p, files)
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeErr(w, httpx.FrontDoor(http.StatusMethodNotAllowed, httpx.KindClientBadRequest, "MethodNotAllowed", "The studio's pages are read with GET.", nil))
			return
		}
		static.ServeHTTP(w, r)
	})
	mux.Handle("GET "+p, http.RedirectHandler(p+"/", http.StatusMovedPermanently))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if s.o.Refuse != nil {
			if err := s.o.Refuse(r); err != nil {
				writeErr(w, err)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// writeErr sends err in Azure's error envelope, as the rest of the
// management plane does; an error that is not an *httpx.Error is a 500
// whose cause stays in the log.
func writeErr(w http.ResponseWriter, err error) {
	httpx.WriteError(w, openai.Errors{}, httpx.From(err))
}

// errSignIn is the 401 of a request without a live session.
var errSignIn = httpx.FrontDoor(http.StatusUnauthorized, httpx.KindClientAuth, "401", "Sign in to the studio first; the session is missing or has expired.", nil)

// errCSRFRefused is the 403 of a state change without the CSRF token.
var errCSRFRefused = httpx.FrontDoor(http.StatusForbidden, httpx.KindClientBadRequest, "403", "The request lacks the session's CSRF token ("+CSRFHeader+"); reload the studio.", errCSRF)

// signedIn loads the session of r and checks the CSRF token of state
// changes before fn runs.
func (s *Studio) signedIn(fn func(w http.ResponseWriter, r *http.Request, sess Session, id string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck := cookies{secure: r.TLS != nil}
		id := ck.read(r, sessionCookie)
		if id == "" {
			writeErr(w, errSignIn)
			return
		}
		sess, ok, err := s.sessions.Get(r.Context(), storeKey("s:", id))
		if err != nil {
			s.o.Logger.Warn("studio: read session", "err", err)
			writeErr(w, err)
			return
		}
		if !ok {
			ck.clear(w, sessionCookie)
			writeErr(w, errSignIn)
			return
		}
		if err := checkCSRF(r, sess); err != nil {
			s.o.Logger.Info("studio: state change refused without CSRF token", "path", r.URL.Path, "principal", sess.Principal)
			writeErr(w, errCSRFRefused)
			return
		}
		fn(w, r, sess, id)
	})
}

// asPrincipal returns a copy of r for path that carries the session's
// credential and none of the browser's (no cookies, no CSRF token, no
// credential headers it may have added).
func asPrincipal(r *http.Request, sess Session, method, path, rawQuery string) *http.Request {
	r2 := r.Clone(r.Context())
	r2.Method = method
	r2.URL.Path, r2.URL.RawPath, r2.URL.RawQuery = path, "", rawQuery
	r2.RequestURI = ""
	r2.Pattern = ""
	h := http.Header{}
	for _, k := range []string{"Content-Type", "Accept", "X-Ms-Client-Request-Id", "Traceparent",
		"X-Forwarded-For", "Forwarded", "User-Agent"} {
		if v := r.Header.Values(k); len(v) > 0 {
			h[k] = v
		}
	}
	if sess.Header != "" {
		h.Set(sess.Header, sess.Credential)
	}
	r2.Header = h
	return r2
}
