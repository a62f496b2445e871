package idp

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strconv"
	"strings"
)

// Handler serves discovery, JWKS, the client-credentials token endpoint and
// the App Service managed-identity endpoint.
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DiscoveryPath, i.serveDiscovery)
	mux.HandleFunc("GET "+JWKSPath, i.serveJWKS)
	mux.HandleFunc("POST "+TokenPath, i.serveToken)
	mux.HandleFunc("GET "+MSIPath, i.serveMSI)
	mux.HandleFunc("GET "+AuthorizePath, i.serveAuthorize)
	mux.HandleFunc("POST "+AuthorizePath, i.serveAuthorize)
	return mux
}

// baseURL is where the client reached us, so that the documents point back
// at the same listener (httptest ports are random).
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                i.issuer,
		"jwks_uri":                              base + JWKSPath,
		"token_endpoint":                        base + TokenPath,
		"authorization_endpoint":                base + AuthorizePath,
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "none"},
		"grant_types_supported":                 []string{"client_credentials", "authorization_code"},
		"response_types_supported":              []string{"code", "token"},
		"code_challenge_methods_supported":      []string{"S256"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"tenant_region_scope":                   "local",
	})
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	i.mu.RLock()
	keys := make([]map[string]any, 0, len(i.published))
	for _, k := range i.published {
		keys = append(keys, map[string]any{
			"kty": "RSA", "use": "sig", "kid": k.kid, "x5t": k.kid, "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(k.key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.key.E)).Bytes()),
		})
	}
	i.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// oauthError is Entra's token-endpoint error shape.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc})
}

// serveToken is the client-credentials grant of Entra's v2 endpoint:
// form client_id, client_secret, scope ("<resource>/.default").
func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must be a form.")
		return
	}
	if r.PostForm.Get("grant_type") == "authorization_code" {
		i.redeemCode(w, r)
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type '"+gt+"'.")
		return
	}
	id, ok := i.identity(r.PostForm.Get("client_id"))
	if !ok || id.ClientSecret == "" {
		oauthError(w, http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application not found in the directory.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("client_secret")), []byte(id.ClientSecret)) != 1 {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
		return
	}
	resource, ok := strings.CutSuffix(r.PostForm.Get("scope"), "/.default")
	if !ok || resource == "" || strings.ContainsAny(resource, " ") {
		oauthError(w, http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.")
		return
	}
	tok, exp, err := i.mint(id, resource, "1")
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "token signing failed")
		return
	}
	secs := int(exp.Sub(i.now()).Seconds())
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
}

// msiError mirrors App Service's error body.
func msiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "message": msg})
}

// serveMSI is the App Service managed-identity protocol (wire reference
// §4.4): GET ?api-version=2019-08-01&resource=…[&client_id|object_id|
// principal_id|mi_res_id=…] with header X-IDENTITY-HEADER. Numbers in the
// answer are strings, as App Service sends them.
func (i *Issuer) serveMSI(w http.ResponseWriter, r *http.Request) {
	if i.header == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get("X-IDENTITY-HEADER")), []byte(i.header)) != 1 {
		msiError(w, http.StatusUnauthorized, "The X-IDENTITY-HEADER header is missing or invalid.")
		return
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != MSIAPIVersion {
		msiError(w, http.StatusBadRequest, "Unsupported api-version "+strconv.Quote(v)+"; want "+MSIAPIVersion+".")
		return
	}
	resource := strings.TrimSuffix(q.Get("resource"), "/.default")
	if resource == "" {
		msiError(w, http.StatusBadRequest, "The resource parameter is required.")
		return
	}
	id, ok := i.selectManaged(q.Get("client_id"), firstNonEmpty(q.Get("object_id"), q.Get("principal_id")), q.Get("mi_res_id"))
	if !ok {
		msiError(w, http.StatusBadRequest, "No managed identity found for specified ClientId/ResourceId/PrincipalId.")
		return
	}
	tok, exp, err := i.mint(id, resource, "2")
	if err != nil {
		msiError(w, http.StatusInternalServerError, "token signing failed")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": tok,
		"expires_on":   strconv.FormatInt(exp.Unix(), 10),
		"resource":     resource,
		"token_type":   "Bearer",
		"client_id":    id.ClientID,
	})
}

// selectManaged finds the managed identity a request names, or the
// system-assigned one when it names none.
func (i *Issuer) selectManaged(clientID, objectID, resourceID string) (Identity, bool) {
	if clientID == "" && objectID == "" && resourceID == "" {
		clientID = i.system
	}
	for _, id := range i.idents {
		if !id.Managed {
			continue
		}
		switch {
		case clientID != "" && strings.EqualFold(id.ClientID, clientID),
			objectID != "" && strings.EqualFold(id.ObjectID, objectID),
			resourceID != "" && id.ResourceID != "" && strings.EqualFold(id.ResourceID, resourceID):
			return id, true
		}
	}
	return Identity{}, false
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
