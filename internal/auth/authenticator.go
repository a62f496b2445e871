package auth

import (
	"context"
	"errors"
	"net/http"

	"github.com/moat-gw/moat/internal/httpx"
)

// AuthenticatorOptions configure an Authenticator.
type AuthenticatorOptions struct {
	// Keys verifies API keys; nil means no key is ever valid.
	Keys *KeyVerifier
	// Tokens validates JWTs; nil means no token is ever valid.
	Tokens *Validator
	// DisableLocalAuth refuses API keys with Azure's 403 (disableLocalAuth).
	DisableLocalAuth bool
}

// Authenticator turns a request's credential into a Principal, answering
// failures with Azure's exact bodies.
type Authenticator struct {
	o AuthenticatorOptions
}

// NewAuthenticator returns an Authenticator.
func NewAuthenticator(o AuthenticatorOptions) *Authenticator { return &Authenticator{o: o} }

// AuthenticateRequest is Extract followed by Authenticate.
func (a *Authenticator) AuthenticateRequest(ctx context.Context, h http.Header, v1 bool) (*Principal, error) {
	c, err := Extract(h, v1)
	if err != nil {
		return nil, err
	}
	return a.Authenticate(ctx, c)
}

// Authenticate checks a credential. Errors are *httpx.Error:
//   - token problems: 401 {"statusCode": 401, …} (§2.3);
//   - any key while DisableLocalAuth: 403 AuthenticationTypeDisabled (§2.5),
//     before the key is even looked up, as Azure does;
//   - unknown, wrong, revoked or expired key: 401 invalid key (§2.1);
//   - a key the cache does not know while the key store is down or hung
//     (ErrKeyUnverifiable): the same 401, fast, with the cause in the log;
//   - any other failure: 500 gateway_internal.
func (a *Authenticator) Authenticate(ctx context.Context, c Credential) (*Principal, error) {
	switch c.Kind {
	case CredentialToken:
		if a.o.Tokens == nil {
			return nil, invalidToken(errors.New("no token issuers configured"))
		}
		return a.o.Tokens.Validate(ctx, c.Secret)
	case CredentialKey:
		if a.o.DisableLocalAuth {
			return nil, localAuthDisabled()
		}
		if a.o.Keys == nil {
			return nil, invalidKey(ErrKeyNotFound)
		}
		k, err := a.o.Keys.Verify(ctx, c.Secret)
		switch {
		case err == nil:
			return &Principal{Type: TypeKey, ID: k.ID, KeyID: k.ID, Name: k.Name, AppOnly: true, key: k}, nil
		case errors.Is(err, ErrKeyNotFound), errors.Is(err, ErrKeyMismatch), errors.Is(err, ErrKeyRevoked), errors.Is(err, ErrKeyExpired),
			errors.Is(err, ErrKeyUnverifiable):
			return nil, invalidKey(err)
		default:
			return nil, httpx.Internal(http.StatusInternalServerError, httpx.KindGatewayInternal, err)
		}
	default:
		return nil, invalidKey(ErrNoCredential)
	}
}
