package auth

import (
	"errors"
	"net/http"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// Sentinel causes. They travel inside *httpx.Error.Err for the log and for
// errors.Is; clients only ever see Azure's fixed bodies.
var (
	// ErrNoCredential means the request carried neither api-key nor a
	// Bearer Authorization header.
	ErrNoCredential = errors.New("no credential")
	// ErrMalformedCredential means a credential header was present but unusable.
	ErrMalformedCredential = errors.New("malformed credential")
	// ErrKeyNotFound means no store knows the key.
	ErrKeyNotFound = errors.New("key not found")
	// ErrKeyMismatch means the key ID exists but the secret is wrong.
	ErrKeyMismatch = errors.New("key secret mismatch")
	// ErrKeyRevoked means the key was revoked.
	ErrKeyRevoked = errors.New("key revoked")
	// ErrKeyExpired means the key is past its expiry.
	ErrKeyExpired = errors.New("key expired")
	// ErrKeyUnverifiable means the key store could not be asked (down,
	// hung past its deadline) and the cache holds nothing usable for the
	// key: it may be valid, but it cannot be verified now. It is answered
	// like an invalid key (fail closed, Azure's 401), and the log says why.
	ErrKeyUnverifiable = errors.New("key cannot be verified: key store unavailable")
	// ErrKeyScope means the key may not use this deployment or operation.
	ErrKeyScope = errors.New("key scope excludes request")
	// ErrLocalAuthDisabled means a key was offered while key auth is off.
	ErrLocalAuthDisabled = errors.New("key authentication disabled")
	// ErrKeysUnavailable means no signing keys could be had for the issuer;
	// token validation fails closed.
	ErrKeysUnavailable = errors.New("signing keys unavailable")
)

// invalidKey is Azure's 401 for a missing or bad key (wire reference §2.1;
// §2.2 for missing credentials, where we assume the same body).
func invalidKey(cause error) *httpx.Error {
	return httpx.FrontDoor(http.StatusUnauthorized, httpx.KindClientAuth, "401", openai.MsgInvalidKey, cause)
}

// invalidToken is Azure's 401 for any Entra token failure, in the APIM-style
// envelope (§2.3). The cause says why, for the log only.
func invalidToken(cause error) *httpx.Error {
	return httpx.StatusMessage(http.StatusUnauthorized, httpx.KindClientAuth, openai.MsgTokenInvalid, cause)
}

// localAuthDisabled is Azure's 403 when disableLocalAuth is set (§2.5).
func localAuthDisabled() *httpx.Error {
	return httpx.FrontDoor(http.StatusForbidden, httpx.KindClientAuth, "AuthenticationTypeDisabled", openai.MsgLocalAuthDisabled, ErrLocalAuthDisabled)
}
