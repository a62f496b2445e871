package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/rbac"
)

// Auth configures who may call moat: API keys, Entra ID / OIDC tokens, and
// role-based access per deployment.
type Auth struct {
	// Disabled accepts every call without credentials. For development only;
	// it is the default only when moat runs without a config file.
	Disabled bool `yaml:"disabled"`
	// DisableLocalAuth refuses API keys (Azure's disableLocalAuth): only tokens work.
	DisableLocalAuth bool `yaml:"disable_local_auth"`
	// Pepper, when set, is mixed into key hashes (HMAC-SHA256). Changing it
	// invalidates every stored key.
	Pepper Secret `yaml:"pepper"`
	// Keys are static, Azure-style resource keys (key1, key2).
	Keys []StaticKey `yaml:"keys"`
	// Issuers are the Entra ID tenants and OIDC issuers whose tokens are accepted.
	Issuers []Issuer `yaml:"issuers"`
	// KeyRBAC is "bypass" (default: a key has every inference data action, as
	// in Azure) or "assigned" (keys need role assignments like any principal).
	KeyRBAC string `yaml:"key_rbac"`
	// Roles are custom role definitions, added to the built-in roles.
	Roles []Role `yaml:"roles"`
	// Assignments grant roles to principals at a scope.
	Assignments []Assignment `yaml:"assignments"`
	// StoreTimeout bounds each lookup of a key or of the role assignments
	// in the store (default 750ms), so that a hung database costs a call at
	// most this long; the cache answers meanwhile (docs/identity.md).
	StoreTimeout Duration `yaml:"store_timeout"`
	// KeyFetchTimeout bounds one fetch of an issuer's discovery document and
	// signing keys (default 5s); token calls waiting for keys share it.
	KeyFetchTimeout Duration `yaml:"key_fetch_timeout"`
	// Cache sizes and ages the cache of stored keys and role assignments.
	Cache IdentityCache `yaml:"cache"`
}

// IdentityCache configures the cache that keeps keys and role assignments
// from the store, so that calls survive a store outage (docs/identity.md).
// Zero values take the defaults.
type IdentityCache struct {
	// Size is how many stored keys are kept (default 100000); the least
	// recently used go first, the cache is never emptied at once.
	Size int `yaml:"size"`
	// TTL is how long a cached key is trusted without asking the store when
	// no change feed is live (default 1s): the revocation delay for changes
	// made elsewhere while the store's feed is down.
	TTL Duration `yaml:"ttl"`
	// NotifyTTL is how long a cached key is trusted while the store's
	// change feed (PostgreSQL LISTEN/NOTIFY, SQLite's polled change log) is
	// live (default 1h); changes arrive through the feed meanwhile.
	NotifyTTL Duration `yaml:"notify_ttl"`
	// NegativeTTL is how long an unknown key is remembered as unknown
	// (default 2s).
	NegativeTTL Duration `yaml:"negative_ttl"`
	// MaxStale is how long a known key, and the stored role assignments,
	// keep being used while the store cannot be reached (default 15m); after
	// it, they fail closed.
	MaxStale Duration `yaml:"max_stale"`
}

// StaticKey is a configured API key.
type StaticKey struct {
	// Name identifies the key in logs (the Caller column); never the key itself.
	Name string `yaml:"name"`
	// Key is the secret, at least 32 characters.
	Key Secret `yaml:"key"`
	// Deployments limits the key to these deployment names or globs (empty: all).
	Deployments []string `yaml:"deployments"`
	// Operations limits the key to these operations (chat, completions,
	// embeddings, images, transcriptions, translations, speech, responses, models).
	Operations []string `yaml:"operations"`
}

// Issuer is a trusted token issuer.
type Issuer struct {
	// Name labels the issuer in logs.
	Name string `yaml:"name"`
	// TenantID is an Entra tenant GUID; v1 and v2 Entra issuers are accepted.
	TenantID string `yaml:"tenant_id"`
	// Issuer is a generic OIDC issuer URL (instead of tenant_id).
	Issuer string `yaml:"issuer"`
	// DiscoveryURL overrides the OpenID configuration URL.
	DiscoveryURL string `yaml:"discovery_url"`
	// JWKSURL, when set, skips discovery.
	JWKSURL string `yaml:"jwks_url"`
	// Audiences are accepted aud values (default https://cognitiveservices.azure.com).
	Audiences []string `yaml:"audiences"`
	// AllowedClientIDs restricts the calling application (appid/azp).
	AllowedClientIDs []string `yaml:"allowed_client_ids"`
	// ClockSkew is the leeway on exp/nbf (default 5m).
	ClockSkew Duration `yaml:"clock_skew"`
}

// Role is a custom role definition.
type Role struct {
	// Name is the role's unique name.
	Name string `yaml:"name"`
	// ID is an optional stable ID (assignments may use it).
	ID string `yaml:"id"`
	// Description says what the role is for.
	Description string `yaml:"description"`
	// DataActions are granted data actions, with * wildcards.
	DataActions []string `yaml:"data_actions"`
	// NotDataActions are removed from this role's DataActions.
	NotDataActions []string `yaml:"not_data_actions"`
}

// Assignment grants a role to a principal at a scope.
type Assignment struct {
	// Role is a role name or ID.
	Role string `yaml:"role"`
	// Principal is "object:<oid>", "group:<id>", "appRole:<value>", "client:<appid>", "key:<name or id>"
	// or "cert:<client certificate name>".
	Principal string `yaml:"principal"`
	// Scope is "/" (the whole gateway, default) or "/deployments/<name or glob>".
	Scope string `yaml:"scope"`
}

// Configured reports whether authentication is enforced.
func (a *Auth) Configured() bool { return !a.Disabled }

// RBAC builds the role configuration.
func (a *Auth) RBAC() (rbac.Config, error) {
	var errs []error
	cfg := rbac.Config{Keys: rbac.KeyMode(a.KeyRBAC)}
	for _, r := range a.Roles {
		cfg.Roles = append(cfg.Roles, rbac.RoleDefinition{ID: r.ID, Name: r.Name, Description: r.Description,
			DataActions: r.DataActions, NotDataActions: r.NotDataActions})
	}
	for i, as := range a.Assignments {
		sel, err := rbac.ParseSelector(as.Principal)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth.assignments[%d]: %w", i, err))
			continue
		}
		cfg.Assignments = append(cfg.Assignments, rbac.Assignment{Role: as.Role, Principal: sel, Scope: as.Scope})
	}
	return cfg, errors.Join(errs...)
}

// TokenIssuers converts the issuers for auth.NewValidator.
func (a *Auth) TokenIssuers() []auth.Issuer {
	var out []auth.Issuer
	for _, is := range a.Issuers {
		out = append(out, auth.Issuer{Name: is.Name, TenantID: is.TenantID, Issuer: is.Issuer,
			DiscoveryURL: is.DiscoveryURL, JWKSURL: is.JWKSURL, Audiences: is.Audiences,
			AllowedClientIDs: is.AllowedClientIDs, ClockSkew: is.ClockSkew.D()})
	}
	return out
}

// StaticKeys builds the stored form of the configured keys.
func (a *Auth) StaticKeys(h auth.Hasher, now time.Time) ([]*auth.Key, error) {
	var (
		out  []*auth.Key
		errs []error
	)
	for i, sk := range a.Keys {
		k, err := auth.NewStaticKey(sk.Name, sk.Key.Value(), h, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth.keys[%d] %q: %w", i, sk.Name, err))
			continue
		}
		k.Deployments, k.Operations = sk.Deployments, sk.Operations
		out = append(out, k)
	}
	return out, errors.Join(errs...)
}

func (a *Auth) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if a.Disabled {
		if len(a.Keys) > 0 || len(a.Issuers) > 0 {
			add("auth.disabled is set but keys or issuers are configured; remove one or the other")
		}
		return errs
	}
	if a.Cache.Size < 0 {
		add("auth.cache.size must not be negative")
	}
	for _, d := range []struct {
		name string
		d    Duration
	}{{"auth.store_timeout", a.StoreTimeout}, {"auth.key_fetch_timeout", a.KeyFetchTimeout},
		{"auth.cache.ttl", a.Cache.TTL}, {"auth.cache.notify_ttl", a.Cache.NotifyTTL},
		{"auth.cache.negative_ttl", a.Cache.NegativeTTL}, {"auth.cache.max_stale", a.Cache.MaxStale}} {
		if d.d < 0 {
			add("%s must not be negative", d.name)
		}
	}
	switch a.KeyRBAC {
	case "", "bypass", "assigned":
	default:
		add("auth.key_rbac must be bypass or assigned, not %q", a.KeyRBAC)
	}
	names := map[string]bool{}
	for i, k := range a.Keys {
		if k.Name == "" || names[k.Name] {
			add("auth.keys[%d]: name is required and must be unique", i)
		}
		names[k.Name] = true
		if len(k.Key.Value()) < auth.MinStaticKeyLen {
			add("auth.keys[%d] %q: key must be at least %d characters", i, k.Name, auth.MinStaticKeyLen)
		}
		for _, op := range k.Operations {
			if _, ok := openai.OperationByName(op); !ok {
				add("auth.keys[%d] %q: unknown operation %q", i, k.Name, op)
			}
		}
	}
	for i, is := range a.Issuers {
		if (is.TenantID == "") == (is.Issuer == "") {
			add("auth.issuers[%d]: set exactly one of tenant_id or issuer", i)
		}
		for _, u := range []string{is.Issuer, is.DiscoveryURL, is.JWKSURL} {
			if u == "" {
				continue
			}
			if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") {
				add("auth.issuers[%d]: %q is not an http(s) URL", i, u)
			}
		}
	}
	if rc, err := a.RBAC(); err != nil {
		errs = append(errs, err)
	} else if _, err := rbac.New(rc); err != nil {
		errs = append(errs, fmt.Errorf("auth: %w", err))
	}
	for i, as := range a.Assignments {
		if as.Scope != "" && as.Scope != "/" && !strings.HasPrefix(as.Scope, "/deployments/") {
			add("auth.assignments[%d]: scope must be / or /deployments/<name>", i)
		}
	}
	return errs
}
