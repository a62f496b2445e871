package studio

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/logquery"
	"github.com/moat-gw/moat/internal/rbac"
)

// maxChatBytes bounds a playground request body.
const maxChatBytes = 1 << 20

// deployments lists the deployments and whether the principal may call each.
func (s *Studio) deployments(w http.ResponseWriter, r *http.Request, sess Session, _ string) {
	list, err := s.o.Deployments(asPrincipal(r, sess, http.MethodGet, r.URL.Path, ""))
	if err != nil {
		writeErr(w, err)
		return
	}
	if list == nil {
		list = []Deployment{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": list})
}

// chat runs a playground call through the data plane as the principal:
// the body (messages, system prompt, parameters, stream) goes to the
// deployment's chat completions endpoint on the full pipeline, so the call
// is authenticated, authorized, rate limited and logged like any other,
// and its answer (an SSE stream when asked) is passed back as it comes.
func (s *Studio) chat(w http.ResponseWriter, r *http.Request, sess Session, _ string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxChatBytes))
	if err != nil || !json.Valid(body) || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		writeErr(w, httpx.FrontDoor(http.StatusBadRequest, httpx.KindClientBadRequest, "BadRequest", "The playground request must be a JSON object of at most 1 MiB.", err))
		return
	}
	dep := r.PathValue("deployment")
	path := "/openai/deployments/" + url.PathEscape(dep) + "/chat/completions"
	r2 := asPrincipal(r, sess, http.MethodPost, path, "api-version="+url.QueryEscape(s.o.APIVersion))
	r2.Header.Set("Content-Type", "application/json")
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	r2.Header.Set("User-Agent", "moat-studio")
	s.o.Data.ServeHTTP(w, r2)
}

// status is the /status document: pools, health, breakers and benches,
// the config fingerprint and reloads. Operators' view: Moat/logs/read.
func (s *Studio) status(w http.ResponseWriter, r *http.Request, sess Session, _ string) {
	if _, err := s.o.Authorize(asPrincipal(r, sess, http.MethodGet, r.URL.Path, ""), rbac.DataActionLogsRead); err != nil {
		writeErr(w, forbidden(err))
		return
	}
	writeJSON(w, http.StatusOK, s.o.Status(r.Context()))
}

// query runs KQL for the calls view through the query API's handler, as
// the principal (Moat/logs/read).
func (s *Studio) query(w http.ResponseWriter, r *http.Request, sess Session, _ string) {
	if s.o.Query == nil {
		writeErr(w, httpx.FrontDoor(http.StatusNotFound, httpx.KindClientNotFound, "404", "The request log cannot be queried with this store.", nil))
		return
	}
	logquery.Handler(logquery.HandlerOptions{
		Authorize: func(r *http.Request, action string) (string, error) {
			actor, err := s.o.Authorize(asPrincipal(r, sess, r.Method, r.URL.Path, ""), action)
			return actor, forbidden(err)
		},
		Query: s.o.Query, Admit: s.o.Admit, Logger: s.o.Logger,
	}).ServeHTTP(w, r)
}

// admin forwards {prefix}/api/admin/… to the admin API's /admin/… as the
// principal: keys, role assignments and the audit log, each authorized by
// the admin API's own RBAC check and audited with the principal's name.
func (s *Studio) admin(w http.ResponseWriter, r *http.Request, sess Session, _ string) {
	rest := strings.TrimPrefix(r.URL.Path, s.o.Prefix+"/api/admin")
	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodDelete:
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeErr(w, httpx.FrontDoor(http.StatusMethodNotAllowed, httpx.KindClientBadRequest, "MethodNotAllowed", "Use GET, POST or DELETE.", nil))
		return
	}
	dw := &denialWriter{ResponseWriter: w}
	s.o.Admin.ServeHTTP(dw, asPrincipal(r, sess, r.Method, "/admin"+rest, r.URL.RawQuery))
	dw.finish()
}

// forbidden turns a permission denial into 403 for the browser. moat's
// APIs answer a principal that lacks a data action with Azure's 401
// PermissionDenied (wire reference §2.4); in the studio the principal is
// signed in, so a 401 would read as "sign in again", and 403 says what
// happened. The body, with Azure's code and message, is kept.
func forbidden(err error) error {
	var he *httpx.Error
	if errors.As(err, &he) && he.Status == http.StatusUnauthorized && he.Kind == httpx.KindPolicyForbidden {
		c := *he
		c.Status = http.StatusForbidden
		return &c
	}
	return err
}

// denialWriter applies forbidden to an answer written by another handler:
// a 401 whose body is PermissionDenied goes out as 403. Other answers,
// streams included, pass through untouched.
type denialWriter struct {
	http.ResponseWriter
	held   bool // a 401 is being held to read its body
	body   bytes.Buffer
	status int
}

func (d *denialWriter) WriteHeader(status int) {
	if status == http.StatusUnauthorized {
		d.held, d.status = true, status
		return
	}
	d.ResponseWriter.WriteHeader(status)
}

func (d *denialWriter) Write(b []byte) (int, error) {
	if d.held {
		return d.body.Write(b)
	}
	return d.ResponseWriter.Write(b)
}

func (d *denialWriter) Flush() {
	if f, ok := d.ResponseWriter.(http.Flusher); ok && !d.held {
		f.Flush()
	}
}

// finish sends a held 401, as 403 when it is a permission denial.
func (d *denialWriter) finish() {
	if !d.held {
		return
	}
	status := d.status
	if bytes.Contains(d.body.Bytes(), []byte(`"PermissionDenied"`)) {
		status = http.StatusForbidden
	}
	d.ResponseWriter.WriteHeader(status)
	_, _ = d.ResponseWriter.Write(d.body.Bytes())
}
