package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signingAlgorithms are the only JWS algorithms accepted: asymmetric ones.
// "none" and every HS* are refused before any key is looked at, which rules
// out algorithm confusion (an HMAC "signed" with the issuer's public key).
var signingAlgorithms = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "PS256"}

// ValidatorOptions tune key fetching; zero values take the defaults.
type ValidatorOptions struct {
	// HTTPClient fetches discovery documents and JWKS; nil means a client
	// with a 10s timeout that refuses redirects to non-https, non-loopback URLs.
	HTTPClient *http.Client
	// Logger receives key-fetch problems and rejected-token reasons; never tokens.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// KeyRefresh is how old keys may get before a proactive refresh (1h).
	KeyRefresh time.Duration
	// KeyMinInterval bounds refreshes triggered by unknown kids (30s).
	KeyMinInterval time.Duration
	// KeyMaxStale is how long keys are used while refreshes fail (24h);
	// after that validation fails closed.
	KeyMaxStale time.Duration
	// KeyFetchTimeout bounds one fetch of the discovery document and JWKS
	// (DefaultKeyFetchTimeout). Callers waiting for keys share that one
	// fetch and leave earlier if their own context ends.
	KeyFetchTimeout time.Duration
}

// DefaultKeyFetchTimeout bounds one signing-key fetch: long enough for a
// slow identity provider, short enough that a hanging one costs a caller
// with no cached keys a few seconds, not a queue of fetches.
const DefaultKeyFetchTimeout = 5 * time.Second

// Validator validates bearer JWTs from the configured issuers. Why
// golang-jwt/jwt/v5 rather than coreos/go-oidc: go-oidc's verifier wants
// one issuer per verifier (Entra v1 and v2 issuers differ), checks one
// audience, and needs go-jose, which is not in go.mod; golang-jwt is
// already a dependency of azidentity, lets us pin the algorithm list, an
// audience set and leeway, and leaves JWKS caching and its refresh rate
// limit to us, where fail-closed behaviour is explicit and testable.
type Validator struct {
	issuers []*issuerState
	log     *slog.Logger
	now     func() time.Time
}

type issuerState struct {
	cfg    *compiledIssuer
	keys   *keySet
	parser *jwt.Parser
}

// NewValidator checks the issuer configs and prepares their key caches. It
// does not fetch keys; call Prefetch at startup to learn about problems early.
func NewValidator(issuers []Issuer, o ValidatorOptions) (*Validator, error) {
	v := &Validator{log: o.Logger, now: o.Now}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.now == nil {
		v.now = time.Now
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return checkFetchURL(req.URL.String())
		}}
	}
	var errs []error
	for _, is := range issuers {
		c, err := is.compile()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ks := &keySet{discovery: c.discovery, jwksURL: c.jwks, issuer: c, client: client, log: v.log, now: v.now,
			refresh: or(o.KeyRefresh, time.Hour), minInterval: or(o.KeyMinInterval, 30*time.Second),
			minEmpty: min(or(o.KeyMinInterval, 30*time.Second), 5*time.Second), maxStale: or(o.KeyMaxStale, 24*time.Hour),
			fetchTimeout: or(o.KeyFetchTimeout, DefaultKeyFetchTimeout)}
		p := jwt.NewParser(jwt.WithValidMethods(signingAlgorithms), jwt.WithLeeway(c.skew), jwt.WithExpirationRequired(),
			jwt.WithAudience(c.audiences...), jwt.WithTimeFunc(v.now))
		v.issuers = append(v.issuers, &issuerState{cfg: c, keys: ks, parser: p})
	}
	if len(issuers) == 0 {
		errs = append(errs, errors.New("no issuers"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("token validator: %w", err)
	}
	return v, nil
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Prefetch loads every issuer's keys now, returning what failed. Failure is
// not fatal: validation retries (rate-limited) and fails closed meanwhile.
func (v *Validator) Prefetch(ctx context.Context) error {
	var errs []error
	for _, st := range v.issuers {
		if _, err := st.keys.lookup(ctx, "", "RS256"); err != nil && errors.Is(err, ErrKeysUnavailable) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// tokenClaims are the claims moat reads (wire reference §4.3).
type tokenClaims struct {
	jwt.RegisteredClaims
	OID               string   `json:"oid"`
	TID               string   `json:"tid"`
	AppID             string   `json:"appid"`
	AZP               string   `json:"azp"`
	IDType            string   `json:"idtyp"`
	UPN               string   `json:"upn"`
	PreferredUsername string   `json:"preferred_username"`
	Roles             strOrArr `json:"roles"`
	Groups            strOrArr `json:"groups"`
	Scp               strOrArr `json:"scp"`
}

// strOrArr reads a claim that issuers send as a string (space-separated,
// like scp) or as an array of strings.
type strOrArr []string

// UnmarshalJSON accepts both forms.
func (s *strOrArr) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = strings.Fields(one)
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("claim is neither a string nor an array of strings")
	}
	*s = many
	return nil
}

// Validate checks a bearer JWT and returns its principal. Every failure is
// Azure's 401 (§2.3) as an *httpx.Error whose cause says why; the token is
// never logged or put in an error.
func (v *Validator) Validate(ctx context.Context, token string) (*Principal, error) {
	p, err := v.validate(ctx, token)
	if err != nil {
		v.log.DebugContext(ctx, "reject token", "reason", err)
		return nil, invalidToken(err)
	}
	return p, nil
}

func (v *Validator) validate(ctx context.Context, token string) (*Principal, error) {
	if len(token) > maxCredentialLen || !LooksLikeJWT(token) {
		return nil, errors.New("not a JWS compact token")
	}
	// Read iss, unverified, only to pick the issuer whose keys verify the token.
	var peek struct {
		Iss string `json:"iss"`
	}
	if err := peekClaims(token, &peek); err != nil {
		return nil, err
	}
	var st *issuerState
	for _, s := range v.issuers {
		if s.cfg.accepts(peek.Iss) {
			st = s
			break
		}
	}
	if st == nil {
		return nil, fmt.Errorf("issuer %q is not trusted", peek.Iss)
	}
	var c tokenClaims
	_, err := st.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		keys, err := st.keys.lookup(ctx, kid, t.Method.Alg())
		if err != nil {
			return nil, err
		}
		vks := jwt.VerificationKeySet{}
		for _, k := range keys {
			vks.Keys = append(vks.Keys, k)
		}
		return vks, nil
	})
	if err != nil {
		return nil, fmt.Errorf("issuer %s: %w", st.cfg.name, err)
	}
	if !st.cfg.accepts(c.Issuer) {
		return nil, fmt.Errorf("issuer %q is not trusted", c.Issuer)
	}
	if st.cfg.tenantID != "" && !strings.EqualFold(c.TID, st.cfg.tenantID) {
		return nil, fmt.Errorf("issuer %s: tenant %q is not %s", st.cfg.name, c.TID, st.cfg.tenantID)
	}
	appID := c.AppID
	if appID == "" {
		appID = c.AZP
	}
	if st.cfg.clients != nil && !st.cfg.clients[strings.ToLower(appID)] {
		return nil, fmt.Errorf("issuer %s: client %q is not allowed", st.cfg.name, appID)
	}
	p := &Principal{Type: st.cfg.principalType(), ID: c.OID, TenantID: c.TID, AppID: appID,
		Roles: c.Roles, Groups: c.Groups, Scopes: c.Scp, Name: c.UPN}
	if p.ID == "" {
		p.ID = c.Subject
	}
	if p.Name == "" {
		p.Name = c.PreferredUsername
	}
	p.AppOnly = c.IDType == "app" || p.Name == ""
	if p.ID == "" {
		return nil, fmt.Errorf("issuer %s: token has neither oid nor sub", st.cfg.name)
	}
	return p, nil
}

// peekClaims decodes the payload segment without verifying it.
func peekClaims(token string, v any) error {
	_, rest, _ := strings.Cut(token, ".")
	payload, _, _ := strings.Cut(rest, ".")
	b, err := jwt.NewParser().DecodeSegment(payload)
	if err != nil {
		return fmt.Errorf("decode payload: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode payload: %w", err)
	}
	return nil
}
