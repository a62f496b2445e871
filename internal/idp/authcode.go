package idp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// codeLifetime is how long an authorization code can be redeemed, as in
// Entra (about ten minutes at most; shorter here).
const codeLifetime = 5 * time.Minute

// authCode is an issued, not yet redeemed authorization code.
type authCode struct {
	clientID, redirectURI, challenge, scope, nonce string
	user                                           User
	expires                                        time.Time
}

// codeStore keeps issued codes until they are redeemed or expire. A code
// is removed on its first redemption, successful or not (RFC 6749 §4.1.2).
type codeStore struct {
	mu    sync.Mutex
	codes map[string]authCode
}

func (c *codeStore) put(code string, a authCode, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.codes == nil {
		c.codes = map[string]authCode{}
	}
	for k, v := range c.codes {
		if now.After(v.expires) {
			delete(c.codes, k)
		}
	}
	c.codes[code] = a
}

func (c *codeStore) take(code string) (authCode, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.codes[code]
	delete(c.codes, code)
	return a, ok
}

// S256 is the PKCE code challenge of verifier (RFC 7636 §4.2).
func S256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authRequest is a validated authorization request.
type authRequest struct {
	client                                                 Identity
	redirectURI, state, scope, nonce, challenge, loginHint string
}

// parseAuthorize checks an authorization request. Errors about the client
// or its redirect URI are shown on the page (never redirected, RFC 6749
// §4.1.2.1); the rest go back to the client as error parameters.
func (i *Issuer) parseAuthorize(q url.Values) (req authRequest, pageErr, redirectErr string) {
	id, ok := i.identity(q.Get("client_id"))
	if !ok || len(id.RedirectURIs) == 0 {
		return req, "AADSTS700016: Application not found in the directory, or it cannot sign users in.", ""
	}
	req = authRequest{client: id, redirectURI: q.Get("redirect_uri"), state: q.Get("state"), scope: q.Get("scope"),
		nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), loginHint: q.Get("login_hint")}
	if !slices.Contains(id.RedirectURIs, req.redirectURI) {
		return req, "AADSTS50011: The redirect URI specified in the request does not match the redirect URIs configured for the application.", ""
	}
	switch {
	case q.Get("response_type") != "code":
		return req, "", "unsupported_response_type"
	case req.challenge == "" || q.Get("code_challenge_method") != "S256":
		// PKCE is required, and only with S256: "plain" protects nothing
		// against an intercepted code.
		return req, "", "invalid_request"
	case resourceOf(req.scope) == "":
		return req, "", "invalid_scope"
	}
	return req, "", ""
}

// resourceOf is the resource of the first "<resource>/.default" scope.
func resourceOf(scope string) string {
	for _, s := range strings.Fields(scope) {
		if r, ok := strings.CutSuffix(s, "/.default"); ok && r != "" {
			return r
		}
	}
	return ""
}

var signInPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - moat idp (development only)</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main>
<h1>Sign in to {{.App}}</h1>
<p>moat idp is a development issuer: there are no passwords. Pick who you are.</p>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="">
{{range $k, $v := .Fields}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<ul>{{range .Users}}
<li><button type="submit" name="user" value="{{.ObjectID}}" data-upn="{{.UPN}}">{{.Name}} ({{.UPN}})</button></li>{{end}}
</ul></form></main></body></html>`))

// serveAuthorize is the authorization endpoint: GET shows the sign-in page
// (users as buttons), POST with the chosen user redirects back to the
// application with a code.
func (i *Issuer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	params := r.Form // query and, on POST, the form
	req, pageErr, redirectErr := i.parseAuthorize(params)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	if pageErr != "" {
		h.Set("Content-Security-Policy", "default-src 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_ = signInPage.Execute(w, map[string]any{"App": "an application", "Error": pageErr})
		return
	}
	back, _ := url.Parse(req.redirectURI) // an exact configured URI: parses
	// Browsers apply form-action to the redirect that follows the form's
	// POST, so the application's origin is allowed as well.
	h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self' "+back.Scheme+"://"+back.Host+"; frame-ancestors 'none'")
	q := back.Query()
	if req.state != "" {
		q.Set("state", req.state)
	}
	if redirectErr != "" {
		q.Set("error", redirectErr)
		back.RawQuery = q.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
		return
	}
	if r.Method == http.MethodGet {
		fields := map[string]string{}
		for _, k := range []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method"} {
			fields[k] = params.Get(k)
		}
		users := i.users
		if req.loginHint != "" {
			users = slices.DeleteFunc(slices.Clone(users), func(u User) bool { return !strings.EqualFold(u.UPN, req.loginHint) })
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		_ = signInPage.Execute(w, map[string]any{"App": req.client.Name, "Fields": fields, "Users": users})
		return
	}
	var user User
	found := false
	for _, u := range i.users {
		if u.ObjectID == r.PostForm.Get("user") {
			user, found = u, true
		}
	}
	if !found {
		q.Set("error", "access_denied")
		back.RawQuery = q.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
		return
	}
	code := randomToken()
	i.codes.put(code, authCode{clientID: req.client.ClientID, redirectURI: req.redirectURI, challenge: req.challenge,
		scope: req.scope, nonce: req.nonce, user: user, expires: i.now().Add(codeLifetime)}, i.now())
	i.log.Info("user signed in", "user", user.UPN, "client_id", req.client.ClientID)
	q.Set("code", code)
	back.RawQuery = q.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// redeemCode is the authorization_code grant: the code, the same
// redirect_uri, and the PKCE verifier whose S256 is the code's challenge.
// A confidential application (one with a client secret) must also send it.
func (i *Issuer) redeemCode(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	id, ok := i.identity(f.Get("client_id"))
	if !ok || len(id.RedirectURIs) == 0 {
		oauthError(w, http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application not found in the directory.")
		return
	}
	if id.ClientSecret != "" && subtle.ConstantTimeCompare([]byte(f.Get("client_secret")), []byte(id.ClientSecret)) != 1 {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
		return
	}
	c, ok := i.codes.take(f.Get("code"))
	if !ok || i.now().After(c.expires) || !strings.EqualFold(c.clientID, id.ClientID) {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS70008: The provided authorization code is invalid or has expired.")
		return
	}
	if c.redirectURI != f.Get("redirect_uri") {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS50148: The redirect_uri does not match the one of the authorization request.")
		return
	}
	if v := f.Get("code_verifier"); v == "" || subtle.ConstantTimeCompare([]byte(S256(v)), []byte(c.challenge)) != 1 {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.")
		return
	}
	access, exp, err := i.mintUser(c, resourceOf(c.scope))
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "token signing failed")
		return
	}
	idTok, _, err := i.mintUser(c, "")
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "token signing failed")
		return
	}
	secs := int(exp.Sub(i.now()).Seconds())
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs,
		"scope": c.scope, "access_token": access, "id_token": idTok})
}

// mintUser signs a delegated (user) token: an access token for resource,
// or the ID token for the application when resource is empty.
func (i *Issuer) mintUser(c authCode, resource string) (string, time.Time, error) {
	now := i.now().Truncate(time.Second)
	exp := now.Add(i.lifetime)
	u := c.user
	claims := jwt.MapClaims{
		"iss": i.issuer, "iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(), "tid": i.tenant,
		"oid": u.ObjectID, "sub": u.ObjectID, "name": u.Name, "upn": u.UPN, "preferred_username": u.UPN,
		"uti": newGUID(), "ver": "1.0",
	}
	if resource == "" {
		claims["aud"] = c.clientID
		if c.nonce != "" {
			claims["nonce"] = c.nonce
		}
	} else {
		claims["aud"] = resource
		claims["appid"] = c.clientID
		claims["appidacr"] = "0"
		claims["idtyp"] = "user"
		claims["scp"] = "user_impersonation"
		if len(u.Groups) > 0 {
			claims["groups"] = u.Groups
		}
	}
	i.mu.RLock()
	sk := i.signing
	i.mu.RUnlock()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = sk.kid
	s, err := t.SignedString(sk.key)
	if err != nil {
		return "", time.Time{}, err
	}
	return s, exp, nil
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
