package upstream

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Authenticator sets credentials on an upstream request's headers.
type Authenticator interface {
	Authorize(ctx context.Context, h http.Header) error
}

// APIKey sends Azure's api-key header.
type APIKey string

// Authorize sets api-key.
func (k APIKey) Authorize(_ context.Context, h http.Header) error {
	h.Set("Api-Key", string(k))
	return nil
}

// BearerKey sends an OpenAI-style Authorization: Bearer key.
type BearerKey string

// Authorize sets Authorization.
func (k BearerKey) Authorize(_ context.Context, h http.Header) error {
	h.Set("Authorization", "Bearer "+string(k))
	return nil
}

// AuthOptions are an upstream's credentials as config gives them.
type AuthOptions struct {
	// Key is the API key, "" for none.
	Key string
	// Mode is "api_key", an Entra mode (EntraOptions.Mode), or "" for the key
	// if one is set.
	Mode  string
	Entra EntraOptions
}

// NewAuth builds the Authenticator an upstream of type typ presents: its
// protocol's key header, or Entra tokens. It returns nil for none (the
// simulator, a keyless compatible server). The gateway and moat doctor
// both build credentials here, so doctor checks what calls present.
func NewAuth(typ Type, o AuthOptions) (Authenticator, error) {
	p, ok := Lookup(typ)
	if !ok {
		return nil, fmt.Errorf("unknown upstream type %q", typ)
	}
	spec := p.Spec()
	switch {
	case spec.URL == URLNone:
		return nil, nil
	case o.Mode == "" || o.Mode == "api_key" || !spec.Entra:
		if o.Key == "" {
			return nil, nil
		}
		return p.KeyAuth(o.Key), nil
	}
	e := o.Entra
	e.Mode = o.Mode
	if e.Scope == "" {
		e.Scope = spec.DefaultScope
	}
	a, err := NewEntra(e)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// EntraOptions select how an Azure upstream obtains Entra ID tokens.
type EntraOptions struct {
	// Mode is managed_identity, workload_identity, client_secret or default.
	Mode         string
	TenantID     string
	ClientID     string
	ClientSecret string
	// Scope is the token scope, normally https://cognitiveservices.azure.com/.default.
	Scope string
	// Now is the clock (nil = time.Now); a parameter so tests need no sleeps.
	Now func() time.Time
}

// NewEntra builds a token Authenticator backed by azidentity.
func NewEntra(o EntraOptions) (*TokenAuth, error) {
	var (
		cred azcore.TokenCredential
		err  error
	)
	switch o.Mode {
	case "managed_identity":
		opts := &azidentity.ManagedIdentityCredentialOptions{}
		if o.ClientID != "" {
			opts.ID = azidentity.ClientID(o.ClientID)
		}
		cred, err = azidentity.NewManagedIdentityCredential(opts)
	case "workload_identity":
		cred, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientID: o.ClientID, TenantID: o.TenantID})
	case "client_secret":
		cred, err = azidentity.NewClientSecretCredential(o.TenantID, o.ClientID, o.ClientSecret, nil)
	case "default":
		cred, err = azidentity.NewDefaultAzureCredential(nil)
	default:
		return nil, fmt.Errorf("unknown entra mode %q", o.Mode)
	}
	if err != nil {
		return nil, fmt.Errorf("create %s credential: %w", o.Mode, err)
	}
	return NewTokenAuth(cred, o.Scope, o.Now), nil
}

// TokenAuth caches a bearer token and refreshes it ahead of expiry, with one
// refresh in flight at a time, so a burst of calls costs one token request.
type TokenAuth struct {
	cred  azcore.TokenCredential
	scope string
	now   func() time.Time

	mu      sync.Mutex
	token   azcore.AccessToken
	refresh chan struct{} // non-nil while a refresh is running
}

// refreshBefore is how long before expiry a token is replaced.
const refreshBefore = 5 * time.Minute

// NewTokenAuth wraps any azcore credential.
func NewTokenAuth(cred azcore.TokenCredential, scope string, now func() time.Time) *TokenAuth {
	if now == nil {
		now = time.Now
	}
	return &TokenAuth{cred: cred, scope: scope, now: now}
}

// Authorize sets Authorization: Bearer with a cached or fresh token.
func (a *TokenAuth) Authorize(ctx context.Context, h http.Header) error {
	tok, err := a.Token(ctx)
	if err != nil {
		return err
	}
	h.Set("Authorization", "Bearer "+tok)
	return nil
}

// Token returns a valid token, refreshing when it is near expiry.
func (a *TokenAuth) Token(ctx context.Context) (string, error) {
	for {
		a.mu.Lock()
		now := a.now()
		if a.token.Token != "" && now.Add(refreshBefore).Before(a.token.ExpiresOn) {
			t := a.token.Token
			a.mu.Unlock()
			return t, nil
		}
		if wait := a.refresh; wait != nil {
			// Another call is refreshing. A still-valid token is good enough meanwhile.
			if a.token.Token != "" && now.Before(a.token.ExpiresOn) {
				t := a.token.Token
				a.mu.Unlock()
				return t, nil
			}
			a.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		done := make(chan struct{})
		a.refresh = done
		a.mu.Unlock()

		tok, err := a.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{a.scope}})

		a.mu.Lock()
		a.refresh = nil
		if err == nil {
			a.token = tok
		}
		a.mu.Unlock()
		close(done)
		if err != nil {
			return "", fmt.Errorf("get token: %w", err)
		}
		return tok.Token, nil
	}
}
