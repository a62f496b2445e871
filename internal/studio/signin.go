package studio

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/rbac"
)

// The admin API's data actions that the session view reports (the admin
// package's own constants, repeated so the studio does not import admin).
const (
	dataActionRolesRead  = "Moat/roles/read"
	dataActionRolesWrite = "Moat/roles/write"
	dataActionAuditRead  = "Moat/audit/read"
)

// sessionView is what GET /api/session tells the page.
type sessionView struct {
	SignedIn  bool      `json:"signed_in"`
	Principal string    `json:"principal,omitempty"`
	AuthType  string    `json:"auth_type,omitempty"`
	CSRF      string    `json:"csrf,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
	// Methods are the sign-in methods offered: "oidc", "key"; none when
	// the gateway is anonymous.
	Methods   []string `json:"methods"`
	Anonymous bool     `json:"anonymous"`
	// Can lists the management views the principal may open, so the page
	// hides what RBAC would refuse (the server refuses it anyway).
	Can map[string]bool `json:"can,omitempty"`
	// Error is set after a failed sign-in round trip.
	Error string `json:"error,omitempty"`
}

func (s *Studio) methods() []string {
	m := []string{}
	if s.o.Anonymous() {
		return m
	}
	if s.oidc != nil {
		m = append(m, "oidc")
	}
	if s.o.KeySignIn() {
		m = append(m, "key")
	}
	return m
}

// session answers who is signed in. When the gateway is anonymous it
// starts an anonymous session at once (the session still carries the CSRF
// token), so development setups get no sign-in prompt.
func (s *Studio) session(w http.ResponseWriter, r *http.Request) {
	ck := cookies{secure: r.TLS != nil}
	v := sessionView{Methods: s.methods(), Anonymous: s.o.Anonymous(), Error: r.URL.Query().Get("error")}
	if id := ck.read(r, sessionCookie); id != "" {
		sess, ok, err := s.sessions.Get(r.Context(), storeKey("s:", id))
		if err != nil {
			writeErr(w, err)
			return
		}
		if ok && (sess.AuthType == "none") == v.Anonymous {
			s.fillSession(r, &v, sess)
			writeJSON(w, http.StatusOK, v)
			return
		}
	}
	if v.Anonymous {
		sess, err := s.start(w, r, Identity{Principal: "anonymous", AuthType: "none"}, "", "", time.Time{})
		if err != nil {
			writeErr(w, err)
			return
		}
		s.fillSession(r, &v, sess)
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Studio) fillSession(r *http.Request, v *sessionView, sess Session) {
	v.SignedIn, v.Principal, v.AuthType, v.CSRF, v.Expires = true, sess.Principal, sess.AuthType, sess.CSRF, sess.Expires
	v.Can = map[string]bool{}
	for view, action := range map[string]string{"keys": rbac.DataActionKeysRead, "keys_write": rbac.DataActionKeysWrite,
		"roles": dataActionRolesRead, "roles_write": dataActionRolesWrite, "audit": dataActionAuditRead,
		"logs": rbac.DataActionLogsRead} {
		_, err := s.o.Authorize(asPrincipal(r, sess, http.MethodGet, s.o.Prefix+"/api/session", ""), action)
		v.Can[view] = err == nil
	}
}

// start stores a new session and sets its cookie. tokenExp, when set, ends
// the session no later than the access token does.
func (s *Studio) start(w http.ResponseWriter, r *http.Request, id Identity, header, credential string, tokenExp time.Time) (Session, error) {
	exp := s.o.Now().Add(s.o.SessionTTL)
	if !tokenExp.IsZero() && tokenExp.Before(exp) {
		exp = tokenExp
	}
	sess := Session{CSRF: randomToken(), Principal: id.Principal, AuthType: id.AuthType, Header: header,
		Credential: credential, Expires: exp}
	sid := randomToken()
	if err := s.sessions.Put(r.Context(), storeKey("s:", sid), sess); err != nil {
		return Session{}, err
	}
	cookies{secure: r.TLS != nil}.session(w, sid, exp)
	s.o.Logger.Info("studio sign-in", "principal", id.Principal, "auth_type", id.AuthType, "expires", exp)
	return sess, nil
}

// redirectURL is the callback URL registered at the issuer.
func (s *Studio) redirectURL(r *http.Request) string {
	if s.oidc.cfg.RedirectURL != "" {
		return s.oidc.cfg.RedirectURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + s.o.Prefix + "/callback"
}

// login starts the authorization code flow: a fresh state, nonce and PKCE
// verifier are kept server-side under the state, and a Lax cookie binds
// the state to this browser (so a code obtained by someone else cannot be
// injected into this browser's session).
func (s *Studio) login(w http.ResponseWriter, r *http.Request) {
	if s.oidc == nil || s.o.Anonymous() {
		http.Redirect(w, r, s.o.Prefix+"/", http.StatusFound)
		return
	}
	ep, err := s.oidc.endpoints(r.Context(), s.o.Now())
	if err != nil {
		s.o.Logger.Warn("studio: sign-in unavailable", "err", err)
		http.Redirect(w, r, s.o.Prefix+"/?error=issuer_unavailable", http.StatusFound)
		return
	}
	state, nonce, verifier := randomToken(), randomToken(), randomToken()
	redirect := s.redirectURL(r)
	exp := s.o.Now().Add(loginTTL)
	pending := Session{Verifier: verifier, RedirectURI: redirect, Expires: exp}
	if err := s.sessions.Put(r.Context(), storeKey("l:", state), pending); err != nil {
		writeErr(w, err)
		return
	}
	cookies{secure: r.TLS != nil}.login(w, state, exp)
	http.Redirect(w, r, s.oidc.authURL(ep, redirect, state, nonce, verifier), http.StatusFound)
}

// callback finishes the flow: the state must match this browser's login
// cookie and a pending sign-in; the code is redeemed with the verifier;
// the access token must authenticate with moat (Identify) before a
// session starts.
func (s *Studio) callback(w http.ResponseWriter, r *http.Request) {
	ck := cookies{secure: r.TLS != nil}
	fail := func(code string, err error) {
		if err != nil {
			s.o.Logger.Warn("studio: sign-in failed", "reason", code, "err", err)
		}
		http.Redirect(w, r, s.o.Prefix+"/?error="+url.QueryEscape(code), http.StatusFound)
	}
	if s.oidc == nil {
		fail("oidc_not_configured", nil)
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	bound := ck.read(r, loginCookie)
	ck.clear(w, loginCookie)
	if state == "" || bound == "" || state != bound {
		fail("state_mismatch", errors.New("callback state does not match this browser's sign-in"))
		return
	}
	key := storeKey("l:", state)
	pending, ok, err := s.sessions.Get(r.Context(), key)
	_ = s.sessions.Delete(r.Context(), key) // single use
	if err != nil || !ok {
		fail("sign_in_expired", err)
		return
	}
	if e := q.Get("error"); e != "" {
		fail("issuer_"+e, nil)
		return
	}
	ep, err := s.oidc.endpoints(r.Context(), s.o.Now())
	if err != nil {
		fail("issuer_unavailable", err)
		return
	}
	tok, err := s.oidc.exchange(r.Context(), ep, q.Get("code"), pending.RedirectURI, pending.Verifier)
	if err != nil {
		fail("token_refused", err)
		return
	}
	sess := Session{Header: "Authorization", Credential: "Bearer " + tok.AccessToken}
	id, err := s.o.Identify(asPrincipal(r, sess, http.MethodGet, s.o.Prefix+"/callback", ""))
	if err != nil {
		fail("token_not_accepted", err)
		return
	}
	var exp time.Time
	if tok.ExpiresIn > 0 {
		exp = s.o.Now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	if _, err := s.start(w, r, id, sess.Header, sess.Credential, exp); err != nil {
		fail("session_store", err)
		return
	}
	http.Redirect(w, r, s.o.Prefix+"/", http.StatusFound)
}

// loginKey signs in with an API key, when allowed. The admin Guard in
// front of the management plane already requires JSON and X-Moat-Request,
// so no other site can post a key here.
func (s *Studio) loginKey(w http.ResponseWriter, r *http.Request) {
	if !s.o.KeySignIn() || s.o.Anonymous() {
		writeErr(w, httpx.FrontDoor(http.StatusForbidden, httpx.KindPolicyForbidden, "403", "Signing in to the studio with an API key is not allowed here.", nil))
		return
	}
	var body struct {
		Key string `json:"key"`
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
	if err == nil {
		err = json.Unmarshal(b, &body)
	}
	if err != nil || body.Key == "" {
		writeErr(w, httpx.FrontDoor(http.StatusBadRequest, httpx.KindClientBadRequest, "BadRequest", `The body must be {"key": "…"}.`, err))
		return
	}
	sess := Session{Header: "api-key", Credential: body.Key}
	id, err := s.o.Identify(asPrincipal(r, sess, http.MethodGet, s.o.Prefix+"/api/login/key", ""))
	if err != nil {
		writeErr(w, err)
		return
	}
	if _, err := s.start(w, r, id, sess.Header, sess.Credential, time.Time{}); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"principal": id.Principal})
}

// logout ends the session server-side and clears the cookie.
func (s *Studio) logout(w http.ResponseWriter, r *http.Request, sess Session, id string) {
	_ = s.sessions.Delete(r.Context(), storeKey("s:", id))
	cookies{secure: r.TLS != nil}.clear(w, sessionCookie)
	s.o.Logger.Info("studio sign-out", "principal", sess.Principal)
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
