// Package dashboard is moat's built-in web dashboard: one page of traffic,
// tokens, throttling, latency and upstream health, plus a KQL box, served
// from the management plane. It is air-gapped by construction: the HTML,
// JavaScript and CSS are embedded in the binary, charts are SVG drawn by
// its own script, and the Content-Security-Policy forbids loading anything
// from elsewhere, so it works on networks that reach nothing outside.
//
// The page reads JSON from endpoints under the same handler, all of them
// built on KQL through internal/logquery, so every figure can be reproduced
// with `moat logs query`.
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/kql"
	"github.com/moat-gw/moat/internal/logquery"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/webui"
)

//go:embed assets
var assetFS embed.FS

// csp allows the page its own files only: no inline script, no CDN, no
// framing by another site.
const csp = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Options configures the dashboard.
type Options struct {
	// Prefix is the path the handler is mounted at, without the trailing
	// slash (default "/dashboard"). The page links relative to it.
	Prefix string
	// Authorize decides whether a request may read the dashboard's data;
	// it is called with logquery.DataAction on every API request (the
	// page's static files are public: they hold no data). The page sends
	// the key it was given as the api-key header. Required.
	Authorize func(r *http.Request, dataAction string) (actor string, err error)
	// Query runs KQL, normally (*logquery.Runner).Query. Required.
	Query func(ctx context.Context, query string) (*logquery.Result, error)
	// Upstreams reports the upstream pools' live state; nil shows none.
	Upstreams func() []UpstreamStatus
	// Now is the clock that places the summary's time window; nil means
	// time.Now.
	Now func() time.Time
	// Logger receives query failures; nil discards.
	Logger *slog.Logger
	// Admit, when set, admits each API request that runs queries for the
	// authorized actor (normally (*logquery.Limiter).Admit): a page's
	// summary counts once, however many statements it runs.
	Admit func(actor string) (release func(), err error)
	// Content and AuditContent let the KQL box read prompt and completion
	// text (logquery.HandlerOptions); the panels never read it.
	Content      func(r *http.Request) bool
	AuditContent func(r *http.Request, actor, query string, rows int) error
}

// UpstreamStatus is one upstream's live routing state, as the health panel
// shows it (the gateway adapts route.Pool snapshots to it).
type UpstreamStatus struct {
	// Pool names the pool (deployment) the member belongs to.
	Pool string `json:"pool"`
	// Name is the upstream's name from config.
	Name string `json:"name"`
	// State is the circuit breaker's state: "closed", "open" or "half_open".
	State string `json:"state"`
	// Available is whether routing would send a call to it now.
	Available bool `json:"available"`
	// BenchedUntil is the end of a 429 bench; zero when not benched.
	BenchedUntil time.Time `json:"benched_until,omitzero"`
	// OpenUntil is when an open breaker goes half-open; zero otherwise.
	OpenUntil time.Time `json:"open_until,omitzero"`
	// ConsecutiveFailures counts failures since the last success.
	ConsecutiveFailures int `json:"consecutive_failures"`
}

// New returns the dashboard handler. Mount it at Options.Prefix + "/":
//
//	GET  {prefix}/                 the page (and its .js, .css, .svg files)
//	GET  {prefix}/api/summary      figures for the panels (?range=1h|24h|7d)
//	GET  {prefix}/api/upstreams    upstream health
//	GET  {prefix}/api/schema       the queryable columns, for the KQL box
//	POST {prefix}/api/query        the query API (logquery.Handler)
func New(o Options) http.Handler {
	if o.Prefix == "" {
		o.Prefix = "/dashboard"
	}
	o.Prefix = strings.TrimSuffix(o.Prefix, "/")
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d := &dashboard{o: o}
	static, _ := fs.Sub(assetFS, "assets") // cannot fail: the folder is embedded
	files := http.FileServerFS(static)

	mux := http.NewServeMux()
	p := o.Prefix
	mux.Handle("GET "+p+"/api/summary", d.api(d.summary))
	mux.Handle("GET "+p+"/api/upstreams", d.api(d.upstreams))
	mux.Handle("GET "+p+"/api/schema", d.api(d.schema))
	mux.Handle("POST "+p+"/api/query", logquery.Handler(logquery.HandlerOptions{
		Authorize: o.Authorize, Query: o.Query, Logger: o.Logger, Admit: o.Admit,
		Content: o.Content, AuditContent: o.AuditContent,
	}))
	mux.Handle("GET "+p+"/api/", httpx.Handler(openai.Errors{}, nil, func(http.ResponseWriter, *http.Request) error {
		return httpx.FrontDoor(http.StatusNotFound, httpx.KindClientNotFound, "404", openai.MsgResourceNotFound, nil)
	}))
	webui.Handle(mux, p)
	mux.Handle("GET "+p+"/", http.StripPrefix(p, files))
	mux.Handle("GET "+p, http.RedirectHandler(p+"/", http.StatusMovedPermanently))
	return securityHeaders(mux)
}

// securityHeaders sets the headers every answer carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

type dashboard struct {
	o Options
}

// api wraps a JSON endpoint with authorization and error writing.
func (d *dashboard) api(fn func(r *http.Request) (any, error)) http.Handler {
	return httpx.Handler(openai.Errors{}, nil, func(w http.ResponseWriter, r *http.Request) error {
		actor, err := d.o.Authorize(r, logquery.DataAction)
		if err != nil {
			return err
		}
		if d.o.Admit != nil {
			release, err := d.o.Admit(actor)
			if err != nil {
				return logquery.QueryError(err)
			}
			defer release()
		}
		v, err := fn(r)
		if err != nil {
			d.o.Logger.Warn("dashboard query failed", "path", r.URL.Path, "err", err)
			return logquery.QueryError(err)
		}
		writeJSON(w, v)
		return nil
	})
}

func (d *dashboard) upstreams(*http.Request) (any, error) {
	out := []UpstreamStatus{}
	if d.o.Upstreams != nil {
		out = append(out, d.o.Upstreams()...)
	}
	return map[string]any{"upstreams": out}, nil
}

func (d *dashboard) schema(*http.Request) (any, error) {
	cols := []logquery.WireColumn{}
	for _, c := range kql.Columns() {
		cols = append(cols, logquery.WireColumn{Name: c.Name, Type: c.Type})
	}
	return map[string]any{"table": "MoatGatewayLogs", "columns": cols}, nil
}

// writeJSON sends v as a 200 JSON answer.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
