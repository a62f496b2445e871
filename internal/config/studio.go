package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/auth"
)

// Studio configures the studio served at /studio/ on the management
// listeners (docs/studio.md).
type Studio struct {
	// AllowPublic serves the studio on management listeners of kind public
	// too. Off by default: even when management.allow_public opens the
	// management plane to a public network, the studio answers 403 there.
	AllowPublic bool `yaml:"allow_public"`
	// SessionTTL is how long a sign-in lasts (default 8h); a session also
	// ends when the access token it holds expires.
	SessionTTL Duration `yaml:"session_ttl"`
	// DisableKeySignIn stops offering sign-in with an API key (it is also
	// off when auth.disable_local_auth refuses keys).
	DisableKeySignIn bool `yaml:"disable_key_sign_in"`
	// Sessions is where sessions are kept: "memory" (default; this
	// replica only) or "redis" (rate_limits.redis, shared by the replicas,
	// sealed with a key derived from auth.pepper).
	Sessions string `yaml:"sessions"`
	// OIDC is the sign-in for people: the authorization code flow with
	// PKCE against one of auth.issuers. Omitted means no such sign-in.
	OIDC *StudioOIDC `yaml:"oidc"`
}

// StudioOIDC is the studio's registration at an issuer.
type StudioOIDC struct {
	// Issuer names an entry of auth.issuers: its discovery document gives
	// the endpoints, and its audiences the access token the studio asks for.
	Issuer string `yaml:"issuer"`
	// ClientID is the studio's application (client) ID at the issuer.
	ClientID string `yaml:"client_id"`
	// ClientSecret makes the studio a confidential client (optional; PKCE
	// is used either way).
	ClientSecret Secret `yaml:"client_secret"`
	// Scopes requested (default: openid profile <first audience>/.default).
	Scopes []string `yaml:"scopes"`
	// RedirectURL is the callback registered at the issuer (default: the
	// address the browser used, plus /studio/callback).
	RedirectURL string `yaml:"redirect_url"`
}

// maxStudioSession bounds studio.session_ttl: a day's work.
const maxStudioSession = 24 * time.Hour

func (c *Config) validateStudio() []error {
	var errs []error
	s := c.Management.Studio
	if d := s.SessionTTL.D(); d < 0 || d > maxStudioSession {
		errs = append(errs, fmt.Errorf("management.studio.session_ttl: %s is not between 0 and %s", d, maxStudioSession))
	}
	switch s.Sessions {
	case "", "memory":
	case "redis":
		if c.RateLimits.Redis == nil {
			errs = append(errs, fmt.Errorf("management.studio.sessions: redis needs rate_limits.redis"))
		}
		if len(c.Auth.Pepper.Value()) < 16 {
			errs = append(errs, fmt.Errorf("management.studio.sessions: redis needs auth.pepper (16+ characters): sessions are sealed with a key derived from it"))
		}
	default:
		errs = append(errs, fmt.Errorf("management.studio.sessions: %q is not memory or redis", s.Sessions))
	}
	if s.OIDC == nil {
		return errs
	}
	o := s.OIDC
	if c.Auth.Disabled {
		errs = append(errs, fmt.Errorf("management.studio.oidc: auth.disabled accepts anonymous calls; there is no one to sign in"))
	}
	if o.ClientID == "" {
		errs = append(errs, fmt.Errorf("management.studio.oidc.client_id is required"))
	}
	if _, ok := c.studioIssuer(); !ok {
		errs = append(errs, fmt.Errorf("management.studio.oidc.issuer: %q names no entry of auth.issuers", o.Issuer))
	}
	if o.RedirectURL != "" {
		if u, err := url.Parse(o.RedirectURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("management.studio.oidc.redirect_url: %q is not an absolute http(s) URL", o.RedirectURL))
		}
	}
	return errs
}

func (c *Config) studioIssuer() (Issuer, bool) {
	if c.Management.Studio.OIDC == nil {
		return Issuer{}, false
	}
	for _, is := range c.Auth.Issuers {
		if is.Name != "" && is.Name == c.Management.Studio.OIDC.Issuer {
			return is, true
		}
	}
	return Issuer{}, false
}

// StudioOIDCEndpoints returns the discovery URL and the scopes of the
// studio's sign-in; ok is false when none is configured.
func (c *Config) StudioOIDCEndpoints() (discovery string, scopes []string, ok bool) {
	is, ok := c.studioIssuer()
	if !ok {
		return "", nil, false
	}
	discovery = is.DiscoveryURL
	switch {
	case discovery != "":
	case is.TenantID != "":
		discovery = "https://login.microsoftonline.com/" + is.TenantID + "/v2.0/.well-known/openid-configuration"
	default:
		discovery = strings.TrimSuffix(is.Issuer, "/") + "/.well-known/openid-configuration"
	}
	scopes = c.Management.Studio.OIDC.Scopes
	if len(scopes) == 0 {
		aud := auth.AudienceCognitiveServices
		if len(is.Audiences) > 0 {
			aud = strings.TrimSuffix(is.Audiences[0], "/")
		}
		scopes = []string{"openid", "profile", aud + "/.default"}
	}
	return discovery, scopes, true
}
