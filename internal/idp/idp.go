package idp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Paths the Issuer serves. Point auth.Issuer.DiscoveryURL at
// base+DiscoveryPath and IDENTITY_ENDPOINT at base+MSIPath.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/discovery/keys"
	TokenPath     = "/oauth2/v2.0/token"
	// AuthorizePath is the authorization endpoint of the code flow (PKCE
	// S256 required), for sign-in pages such as moat's studio.
	AuthorizePath = "/oauth2/v2.0/authorize"
	MSIPath       = "/msi/token"
	// MSIAPIVersion is the App Service managed-identity protocol version.
	MSIAPIVersion = "2019-08-01"
)

// Identity is a service principal or managed identity the issuer mints
// tokens for.
type Identity struct {
	// Name labels the identity in logs.
	Name string
	// ClientID becomes the appid claim; client credentials and the MSI
	// client_id parameter select by it.
	ClientID string
	// ObjectID becomes oid and sub: the principal RBAC assignments name.
	ObjectID string
	// ClientSecret, when set, lets the identity use the client-credentials
	// token endpoint.
	ClientSecret string
	// Managed makes the identity available on the managed-identity endpoint.
	Managed bool
	// ResourceID is the user-assigned identity's ARM ID (mi_res_id, and the
	// xms_mirid claim); optional.
	ResourceID string
	// Roles become the roles claim (app roles), optional.
	Roles []string
	// RedirectURIs, when set, let the identity act as a web application
	// that signs users in with the authorization code flow; the redirect_uri
	// of a request must be one of them exactly.
	RedirectURIs []string
}

// User is a person who can sign in through the authorization endpoint.
type User struct {
	// Name is the display name (name claim).
	Name string
	// UPN is the user principal name (upn and preferred_username claims).
	UPN string
	// ObjectID becomes oid and sub: the principal RBAC assignments name.
	ObjectID string
	// Groups become the groups claim, optional.
	Groups []string
}

// Options configure an Issuer.
type Options struct {
	// TenantID is the tid claim and part of iss; empty means a random GUID.
	TenantID string
	// Identities are the principals tokens can be minted for.
	Identities []Identity
	// Users can sign in to identities that have RedirectURIs. There is no
	// password: the sign-in page lists them and whoever reaches it picks one.
	Users []User
	// IdentityHeader is the secret managed-identity callers send in
	// X-IDENTITY-HEADER (their IDENTITY_HEADER). Required when any identity
	// is Managed.
	IdentityHeader string
	// SystemAssigned is the client ID answered when an MSI request names no
	// identity; empty means the first Managed identity.
	SystemAssigned string
	// Key signs tokens; nil means a fresh 2048-bit RSA key (see ParsePrivateKeyPEM).
	Key *rsa.PrivateKey
	// TokenLifetime is how long tokens live; zero means one hour.
	TokenLifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger records issued tokens (identity and audience, never the token).
	Logger *slog.Logger
}

// Issuer is a local token issuer for development and tests only: anyone who
// can reach it with a client secret or the identity header gets a signed
// token. It is never wired into production configuration.
type Issuer struct {
	tenant    string
	issuer    string
	idents    []Identity
	header    string
	system    string
	lifetime  time.Duration
	now       func() time.Time
	log       *slog.Logger
	mu        sync.RWMutex
	signing   signingKey
	published []signingKey // every key in the JWKS, newest last
	users     []User
	codes     codeStore
}

type signingKey struct {
	kid string
	key *rsa.PrivateKey
}

// New checks the options and prepares the signing key.
func New(opts Options) (*Issuer, error) {
	i := &Issuer{tenant: strings.ToLower(opts.TenantID), header: opts.IdentityHeader, system: opts.SystemAssigned,
		lifetime: opts.TokenLifetime, now: opts.Now, log: opts.Logger}
	var errs []error
	if i.tenant == "" {
		i.tenant = newGUID()
	}
	i.issuer = "https://sts.windows.net/" + i.tenant + "/"
	if i.lifetime <= 0 {
		i.lifetime = time.Hour
	}
	if i.now == nil {
		i.now = time.Now
	}
	if i.log == nil {
		i.log = slog.New(slog.DiscardHandler)
	}
	seen := map[string]bool{}
	anyManaged := false
	for _, id := range opts.Identities {
		switch {
		case id.ClientID == "" || id.ObjectID == "":
			errs = append(errs, fmt.Errorf("identity %q: client ID and object ID are required", id.Name))
		case seen[strings.ToLower(id.ClientID)]:
			errs = append(errs, fmt.Errorf("identity %q: client ID %s used twice", id.Name, id.ClientID))
		}
		seen[strings.ToLower(id.ClientID)] = true
		anyManaged = anyManaged || id.Managed
		if !id.Managed && id.ClientSecret == "" && len(id.RedirectURIs) == 0 {
			errs = append(errs, fmt.Errorf("identity %q: neither managed nor a client secret: unusable", id.Name))
		}
		i.idents = append(i.idents, id)
	}
	for _, u := range opts.Users {
		if u.UPN == "" || u.ObjectID == "" {
			errs = append(errs, fmt.Errorf("user %q: UPN and object ID are required", u.Name))
		}
		i.users = append(i.users, u)
	}
	if len(opts.Identities) == 0 {
		errs = append(errs, errors.New("no identities"))
	}
	if anyManaged && len(i.header) < 16 {
		errs = append(errs, errors.New("managed identities need an identity header of 16+ characters"))
	}
	if i.system == "" {
		for _, id := range i.idents {
			if id.Managed {
				i.system = id.ClientID
				break
			}
		}
	} else if id, ok := i.identity(i.system); !ok || !id.Managed {
		errs = append(errs, fmt.Errorf("system-assigned %s is not a managed identity", i.system))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("idp: %w", err)
	}
	key := opts.Key
	if key == nil {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("idp: generate key: %w", err)
		}
	}
	i.signing = signingKey{kid: keyID(&key.PublicKey), key: key}
	i.published = []signingKey{i.signing}
	return i, nil
}

// TenantID is the tenant the issuer mints tokens for.
func (i *Issuer) TenantID() string { return i.tenant }

// IssuerURL is the iss claim: Entra's v1 form, https://sts.windows.net/{tid}/.
func (i *Issuer) IssuerURL() string { return i.issuer }

// RotateKey starts signing with a new key while the JWKS keeps publishing
// the old ones, as Entra does during a rollover.
func (i *Issuer) RotateKey() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("idp: rotate key: %w", err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.signing = signingKey{kid: keyID(&key.PublicKey), key: key}
	i.published = append(i.published, i.signing)
	return nil
}

func (i *Issuer) identity(clientID string) (Identity, bool) {
	for _, id := range i.idents {
		if strings.EqualFold(id.ClientID, clientID) {
			return id, true
		}
	}
	return Identity{}, false
}

// Mint signs an Entra v1-shaped app-only access token (wire reference §4.3)
// for the identity with clientID and the given resource (the aud claim).
// appidacr is "2" for managed identities and "1" for client secrets.
func (i *Issuer) Mint(clientID, resource string) (token string, expiresOn time.Time, err error) {
	id, ok := i.identity(clientID)
	if !ok {
		return "", time.Time{}, fmt.Errorf("idp: unknown client %s", clientID)
	}
	return i.mint(id, resource, "1")
}

func (i *Issuer) mint(id Identity, resource, acr string) (string, time.Time, error) {
	now := i.now().Truncate(time.Second)
	exp := now.Add(i.lifetime)
	claims := jwt.MapClaims{
		"aud": resource, "iss": i.issuer, "iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(),
		"aio": "local", "appid": id.ClientID, "appidacr": acr, "idp": i.issuer, "idtyp": "app",
		"oid": id.ObjectID, "sub": id.ObjectID, "tid": i.tenant, "uti": newGUID(), "ver": "1.0",
	}
	if len(id.Roles) > 0 {
		claims["roles"] = id.Roles
	}
	if id.ResourceID != "" {
		claims["xms_mirid"] = id.ResourceID
	}
	i.mu.RLock()
	sk := i.signing
	i.mu.RUnlock()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = sk.kid
	t.Header["x5t"] = sk.kid
	s, err := t.SignedString(sk.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("idp: sign: %w", err)
	}
	i.log.Info("issued token", "identity", id.Name, "client_id", id.ClientID, "aud", resource, "exp", exp)
	return s, exp, nil
}

// keyID is the base64url SHA-256 of the public key, truncated: stable for a
// key, distinct between keys.
func keyID(pub *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:15])
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ParsePrivateKeyPEM reads an RSA private key (PKCS#1 or PKCS#8 PEM), so a
// dev setup can keep one key across restarts and cached JWKS stay valid.
func ParsePrivateKeyPEM(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("idp: no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("idp: parse key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("idp: key is %T, want RSA", k)
	}
	return rk, nil
}
