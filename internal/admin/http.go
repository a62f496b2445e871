package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/rbac"
)

// maxBodyBytes bounds admin request bodies; they are a few hundred bytes.
const maxBodyBytes = 64 << 10

// New returns the management-plane HTTP API, with routes under /admin/.
// Options that NewService rejects give a handler that answers every
// request 500 and logs why; call NewService first to fail at startup.
func New(o Options) http.Handler {
	s, err := NewService(o)
	if err != nil {
		log := o.Logger
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		return httpx.Handler(openai.Errors{}, nil, func(w http.ResponseWriter, r *http.Request) error {
			log.ErrorContext(r.Context(), "admin api misconfigured", "err", err)
			return httpx.Internal(http.StatusInternalServerError, httpx.KindGatewayInternal, err)
		})
	}
	return s.Handler()
}

// handlerFunc is an admin route: it gets the authorized caller and returns
// an error for the one adapter (serve) to write.
type handlerFunc func(w http.ResponseWriter, r *http.Request, c Caller) error

// Handler returns the HTTP API. Every route first calls Options.Authorize
// with its data action.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	routes := []struct {
		pattern, action string
		fn              handlerFunc
	}{
		{"POST /admin/keys", rbac.DataActionKeysWrite, s.httpCreateKey},
		{"GET /admin/keys", rbac.DataActionKeysRead, s.httpListKeys},
		{"GET /admin/keys/{id}", rbac.DataActionKeysRead, s.httpGetKey},
		{"POST /admin/keys/{id}/revoke", rbac.DataActionKeysWrite, s.httpRevokeKey},
		{"POST /admin/keys/{id}/regenerate", rbac.DataActionKeysWrite, s.httpRegenerateKey},
		{"GET /admin/roles/definitions", DataActionRolesRead, s.httpRoleDefinitions},
		{"GET /admin/roles/assignments", DataActionRolesRead, s.httpListAssignments},
		{"POST /admin/roles/assignments", DataActionRolesWrite, s.httpAssign},
		{"DELETE /admin/roles/assignments/{id}", DataActionRolesWrite, s.httpUnassign},
		{"GET /admin/audit", DataActionAuditRead, s.httpAudit},
		{"GET /admin/audit/verify", DataActionAuditRead, s.httpVerifyAudit},
	}
	for _, rt := range routes {
		mux.Handle(rt.pattern, s.serve(rt.action, rt.fn))
	}
	mux.Handle("/", httpx.Handler(openai.Errors{}, nil, func(http.ResponseWriter, *http.Request) error {
		return httpx.FrontDoor(http.StatusNotFound, httpx.KindClientNotFound, "404", openai.MsgResourceNotFound, nil)
	}))
	return mux
}

// serve authorizes the caller for action, runs fn and hands its error to
// the one adapter (httpx.Handler) that writes it in Azure's shapes.
func (s *Service) serve(action string, fn handlerFunc) http.Handler {
	return httpx.Handler(openai.Errors{}, nil, func(w http.ResponseWriter, r *http.Request) error {
		if s.authorize == nil {
			s.log.WarnContext(r.Context(), "admin api has no authorizer; request refused", "route", r.Pattern)
			return rbac.DeniedError("anonymous", action, r.Pattern)
		}
		actor, err := s.authorize(r, action)
		if err != nil {
			return err
		}
		c := Caller{Actor: actor, ClientIP: s.requestIP(r)}
		if err := fn(w, r, c); err != nil {
			return s.httpError(r, err)
		}
		return nil
	})
}

func (s *Service) requestIP(r *http.Request) string {
	if s.clientIP != nil {
		return s.clientIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// httpError answers a RequestError with its own status and message, and
// anything else with a generic 500 (the cause goes to the log only).
func (s *Service) httpError(r *http.Request, err error) *httpx.Error {
	var re *RequestError
	if errors.As(err, &re) {
		kind := httpx.KindClientBadRequest
		if re.Status == http.StatusNotFound {
			kind = httpx.KindClientNotFound
		}
		return httpx.FrontDoor(re.Status, kind, re.Code, re.Message, err)
	}
	s.log.ErrorContext(r.Context(), "admin request failed", "route", r.Pattern, "err", err)
	return httpx.From(err)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// decodeBody reads one JSON object into v, refusing unknown fields. An
// empty body leaves v as it is when allowEmpty.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return badRequest("request body: larger than %d bytes", maxBodyBytes)
		}
		return fmt.Errorf("read request body: %w", err)
	}
	return decodeJSON(b, v, allowEmpty)
}

func decodeJSON(b []byte, v any, allowEmpty bool) error {
	if len(bytes.TrimSpace(b)) == 0 {
		if allowEmpty {
			return nil
		}
		return badRequest("request body: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var pe *time.ParseError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return badRequest("request body: field %q: want %s", te.Field, jsonType(te.Type.Kind().String()))
		case errors.As(err, &pe):
			return badRequest("request body: times are RFC 3339, such as 2030-01-02T15:04:05Z")
		default:
			return badRequest("request body: %s", trimJSONPrefix(err.Error()))
		}
	}
	if dec.More() {
		return badRequest("request body: unexpected data after the JSON object")
	}
	return nil
}

func jsonType(kind string) string {
	switch kind {
	case "int", "int64", "uint", "float64":
		return "a number"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	default:
		return "a " + kind
	}
}

func trimJSONPrefix(s string) string {
	const p = "json: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// list is the envelope of every list response, as in Azure's REST APIs.
type list[T any] struct {
	Value []T `json:"value"`
}

func (s *Service) httpCreateKey(w http.ResponseWriter, r *http.Request, c Caller) error {
	var req KeyRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	nk, err := s.CreateKey(r.Context(), c, req)
	if err != nil {
		return err
	}
	v := ViewKey(nk.Key, s.now())
	v.Key = nk.Plaintext
	w.Header().Set("Location", "/admin/keys/"+nk.Key.ID)
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Service) httpListKeys(w http.ResponseWriter, r *http.Request, _ Caller) error {
	ks, err := s.ListKeys(r.Context())
	if err != nil {
		return err
	}
	now := s.now()
	out := list[KeyView]{Value: []KeyView{}}
	for _, k := range ks {
		out.Value = append(out.Value, ViewKey(k, now))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Service) httpGetKey(w http.ResponseWriter, r *http.Request, _ Caller) error {
	k, err := s.GetKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ViewKey(k, s.now()))
}

func (s *Service) httpRevokeKey(w http.ResponseWriter, r *http.Request, c Caller) error {
	var none struct{}
	if err := decodeBody(w, r, &none, true); err != nil {
		return err
	}
	k, err := s.RevokeKey(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ViewKey(k, s.now()))
}

func (s *Service) httpRegenerateKey(w http.ResponseWriter, r *http.Request, c Caller) error {
	var req RegenerateRequest
	if err := decodeBody(w, r, &req, true); err != nil {
		return err
	}
	rg, err := s.RegenerateKey(r.Context(), c, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	v := ViewKey(rg.New.Key, s.now())
	v.Key, v.Replaces = rg.New.Plaintext, rg.Old.ID
	w.Header().Set("Location", "/admin/keys/"+rg.New.Key.ID)
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Service) httpRoleDefinitions(w http.ResponseWriter, _ *http.Request, _ Caller) error {
	out := list[RoleView]{Value: []RoleView{}}
	for _, d := range s.RoleDefinitions() {
		out.Value = append(out.Value, RoleView{ID: d.ID, Name: d.Name, Description: d.Description,
			DataActions: nonNil(d.DataActions), NotDataActions: nonNil(d.NotDataActions), Builtin: IsBuiltinRole(d)})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Service) httpListAssignments(w http.ResponseWriter, r *http.Request, _ Caller) error {
	as, err := s.ListAssignments(r.Context())
	if err != nil {
		return err
	}
	out := list[AssignmentView]{Value: []AssignmentView{}}
	for _, a := range as {
		out.Value = append(out.Value, ViewAssignment(a))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Service) httpAssign(w http.ResponseWriter, r *http.Request, c Caller) error {
	var req AssignmentRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	a, err := s.Assign(r.Context(), c, req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/admin/roles/assignments/"+a.ID)
	return writeJSON(w, http.StatusCreated, ViewAssignment(a))
}

func (s *Service) httpUnassign(w http.ResponseWriter, r *http.Request, c Caller) error {
	a, err := s.Unassign(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ViewAssignment(a))
}

func (s *Service) httpAudit(w http.ResponseWriter, r *http.Request, _ Caller) error {
	q := r.URL.Query()
	after, limit := int64(0), 0
	var err error
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil {
			return badRequest("after: want a sequence number")
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit == 0 {
			return badRequest("limit: want 1 to %d", MaxAuditLimit)
		}
	}
	es, err := s.AuditEntries(r.Context(), after, limit)
	if err != nil {
		return err
	}
	out := list[audit.Entry]{Value: append([]audit.Entry{}, es...)}
	for i, e := range out.Value {
		if !json.Valid(e.Details) {
			// A tampered row may hold anything; show it as a string
			// rather than fail the whole page (verify names the row).
			out.Value[i].Details, _ = json.Marshal(string(e.Details))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Service) httpVerifyAudit(w http.ResponseWriter, r *http.Request, _ Caller) error {
	rep, err := s.VerifyAudit(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}
