package auth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Audiences Azure OpenAI tokens carry (wire reference §4.3, §1.4).
const (
	// AudienceCognitiveServices is the audience of tokens requested with
	// scope https://cognitiveservices.azure.com/.default.
	AudienceCognitiveServices = "https://cognitiveservices.azure.com"
	// AudienceAIFoundry is the audience of newer Foundry tokens (scope
	// https://ai.azure.com/.default). Whether Azure OpenAI accepts it is
	// unverified (§6 item 6), so it is opt-in.
	AudienceAIFoundry = "https://ai.azure.com"
	// DefaultClockSkew is the leeway on exp and nbf.
	DefaultClockSkew = 5 * time.Minute
)

// Issuer configures one trusted token issuer: an Entra ID tenant or a
// generic OIDC provider. Set exactly one of TenantID and Issuer.
type Issuer struct {
	// Name labels the issuer in logs; defaults to the tenant or issuer URL.
	Name string
	// TenantID is an Entra tenant (GUID). Tokens must carry tid = TenantID
	// and iss = https://sts.windows.net/{tid}/ (v1, what Azure OpenAI tokens
	// are) or https://login.microsoftonline.com/{tid}/v2.0 (v2).
	TenantID string
	// Issuer is a generic OIDC issuer URL, compared exactly with iss.
	Issuer string
	// DiscoveryURL is the OpenID configuration document; it defaults to
	// https://login.microsoftonline.com/{tid}/v2.0/.well-known/openid-configuration
	// for Entra and {Issuer}/.well-known/openid-configuration otherwise.
	DiscoveryURL string
	// JWKSURL, when set, skips discovery.
	JWKSURL string
	// Audiences are the accepted aud values; each is also accepted with or
	// without a trailing slash. Empty means AudienceCognitiveServices.
	Audiences []string
	// AllowedClientIDs, when set, restricts appid/azp (like APIM's
	// client-application-ids).
	AllowedClientIDs []string
	// ClockSkew is the leeway on exp and nbf; zero means DefaultClockSkew.
	ClockSkew time.Duration
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// compiledIssuer is an Issuer with its defaults filled in and sets built.
type compiledIssuer struct {
	name      string
	tenantID  string // lower case; empty for generic OIDC
	issuers   []string
	discovery string
	jwks      string
	audiences []string
	clients   map[string]bool
	skew      time.Duration
}

func (c *compiledIssuer) principalType() string {
	if c.tenantID != "" {
		return TypeEntra
	}
	return TypeOIDC
}

func (c *compiledIssuer) accepts(iss string) bool {
	for _, i := range c.issuers {
		if i == iss {
			return true
		}
	}
	return false
}

// compile validates the issuer config and fills in defaults.
func (is Issuer) compile() (*compiledIssuer, error) {
	var errs []error
	c := &compiledIssuer{name: is.Name, skew: is.ClockSkew, discovery: is.DiscoveryURL, jwks: is.JWKSURL}
	switch {
	case is.TenantID != "" && is.Issuer != "":
		errs = append(errs, errors.New("set tenant ID or issuer, not both"))
	case is.TenantID != "":
		if !guidRE.MatchString(is.TenantID) {
			errs = append(errs, fmt.Errorf("tenant ID %q is not a GUID", is.TenantID))
		}
		c.tenantID = strings.ToLower(is.TenantID)
		c.issuers = []string{
			"https://sts.windows.net/" + c.tenantID + "/",
			"https://login.microsoftonline.com/" + c.tenantID + "/v2.0",
		}
		if c.discovery == "" {
			c.discovery = "https://login.microsoftonline.com/" + c.tenantID + "/v2.0/.well-known/openid-configuration"
		}
	case is.Issuer != "":
		c.issuers = []string{is.Issuer}
		if c.discovery == "" {
			c.discovery = strings.TrimSuffix(is.Issuer, "/") + "/.well-known/openid-configuration"
		}
	default:
		errs = append(errs, errors.New("set a tenant ID or an issuer"))
	}
	if c.name == "" {
		c.name = is.TenantID + is.Issuer
	}
	if c.jwks != "" {
		c.discovery = ""
		if err := checkFetchURL(c.jwks); err != nil {
			errs = append(errs, fmt.Errorf("JWKS URL: %w", err))
		}
	} else if c.discovery != "" {
		if err := checkFetchURL(c.discovery); err != nil {
			errs = append(errs, fmt.Errorf("discovery URL: %w", err))
		}
	}
	auds := is.Audiences
	if len(auds) == 0 {
		auds = []string{AudienceCognitiveServices}
	}
	for _, a := range auds {
		if a = strings.TrimSuffix(strings.TrimSpace(a), "/"); a == "" {
			errs = append(errs, errors.New("empty audience"))
			continue
		}
		c.audiences = append(c.audiences, a, a+"/")
	}
	if len(is.AllowedClientIDs) > 0 {
		c.clients = map[string]bool{}
		for _, id := range is.AllowedClientIDs {
			c.clients[strings.ToLower(id)] = true
		}
	}
	switch {
	case c.skew == 0:
		c.skew = DefaultClockSkew
	case c.skew < 0:
		errs = append(errs, fmt.Errorf("negative clock skew %s", c.skew))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("issuer %s: %w", c.name, err)
	}
	return c, nil
}

// checkFetchURL allows https anywhere and plain http only to loopback hosts
// (127.0.0.0/8, ::1, localhost), so that a local issuer (internal/idp,
// httptest) works while a misconfigured remote http URL cannot be used to
// swap signing keys on the wire.
func checkFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %q: %w", raw, err)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("%q has no host", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	default:
		return fmt.Errorf("%q: want https (http only for loopback hosts)", raw)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
