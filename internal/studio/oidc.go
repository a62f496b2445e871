package studio

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// OIDC is the issuer people sign in with: the authorization code flow with
// PKCE (S256). The access token it returns must be one moat accepts (an
// issuer and audience listed under auth.issuers), because the studio acts
// with it.
type OIDC struct {
	// DiscoveryURL is the issuer's OpenID configuration document.
	DiscoveryURL string
	// ClientID is the studio's application (client) ID at the issuer.
	ClientID string
	// ClientSecret, when set, authenticates the studio at the token
	// endpoint (a confidential client); PKCE is used either way.
	ClientSecret string
	// Scopes are requested; they must include a "<resource>/.default"
	// scope (Entra) naming an audience moat accepts.
	Scopes []string
	// RedirectURL is the callback registered at the issuer; empty means
	// the request's own origin plus {prefix}/callback.
	RedirectURL string
	// HTTPClient calls the issuer; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
}

// endpoints are what the studio reads from the discovery document.
type endpoints struct {
	Authorization string   `json:"authorization_endpoint"`
	Token         string   `json:"token_endpoint"`
	PKCEMethods   []string `json:"code_challenge_methods_supported"`
}

// provider fetches and caches the discovery document.
type provider struct {
	cfg     OIDC
	mu      sync.Mutex
	ep      *endpoints
	fetched time.Time
}

const discoveryTTL = time.Hour

func newProvider(c OIDC) *provider {
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &provider{cfg: c}
}

func (p *provider) endpoints(ctx context.Context, now time.Time) (*endpoints, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ep != nil && now.Sub(p.fetched) < discoveryTTL {
		return p.ep, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.DiscoveryURL, nil)
	if err != nil {
		return nil, fmt.Errorf("oidc discovery: %w", err)
	}
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("oidc discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("oidc discovery: %s answered %d", p.cfg.DiscoveryURL, resp.StatusCode)
	}
	var ep endpoints
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ep); err != nil {
		return nil, fmt.Errorf("oidc discovery: %w", err)
	}
	if ep.Authorization == "" || ep.Token == "" {
		return nil, errors.New("oidc discovery: no authorization or token endpoint")
	}
	p.ep, p.fetched = &ep, now
	return p.ep, nil
}

// pkceChallenge is the S256 code challenge of verifier (RFC 7636 §4.2).
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authURL is where the browser goes to sign in.
func (p *provider) authURL(ep *endpoints, redirect, state, nonce, verifier string) string {
	q := url.Values{
		"client_id":             {p.cfg.ClientID},
		"response_type":         {"code"},
		"redirect_uri":          {redirect},
		"scope":                 {strings.Join(p.cfg.Scopes, " ")},
		"state":                 {state},
		"nonce":                 {nonce},
		"code_challenge":        {pkceChallenge(verifier)},
		"code_challenge_method": {"S256"},
		"response_mode":         {"query"},
	}
	sep := "?"
	if strings.Contains(ep.Authorization, "?") {
		sep = "&"
	}
	return ep.Authorization + sep + q.Encode()
}

// tokenAnswer is the token endpoint's answer.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// exchange redeems code with the PKCE verifier. Only the issuer's error
// code is put in the error, never a token.
func (p *provider) exchange(ctx context.Context, ep *endpoints, code, redirect, verifier string) (*tokenAnswer, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {p.cfg.ClientID}, "code": {code},
		"redirect_uri": {redirect}, "code_verifier": {verifier}, "scope": {strings.Join(p.cfg.Scopes, " ")}}
	if p.cfg.ClientSecret != "" {
		form.Set("client_secret", p.cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.Token, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("oidc token: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("oidc token: %w", err)
	}
	defer resp.Body.Close()
	var ta tokenAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ta); err != nil {
		return nil, fmt.Errorf("oidc token: %d: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || ta.AccessToken == "" {
		return nil, fmt.Errorf("oidc token: %d %s", resp.StatusCode, ta.Error)
	}
	return &ta, nil
}
