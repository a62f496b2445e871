package auth

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// CredentialKind says what a request presented.
type CredentialKind uint8

// Credential kinds.
const (
	// CredentialNone is the zero value; Extract never returns it with a nil error.
	CredentialNone CredentialKind = iota
	// CredentialKey is an API key (api-key header, or Bearer non-JWT on v1).
	CredentialKey
	// CredentialToken is a bearer token to validate as a JWT.
	CredentialToken
)

// String names the kind for logs.
func (k CredentialKind) String() string {
	switch k {
	case CredentialKey:
		return "key"
	case CredentialToken:
		return "token"
	default:
		return "none"
	}
}

// maxCredentialLen bounds a credential before any parsing: Entra tokens are
// a few KB; 16 KiB leaves room for large group lists.
const maxCredentialLen = 16 << 10

// Credential is what a request presented. Secret is the key or token itself:
// it must never be logged, so String and LogValue leave it out.
type Credential struct {
	Kind CredentialKind
	// Secret is the API key or the raw JWT.
	Secret string
	// Header is where it came from: "api-key" or "authorization".
	Header string
}

// String describes the credential without its secret.
func (c Credential) String() string { return c.Kind.String() + " from " + c.Header }

// GoString keeps %#v from printing the secret.
func (c Credential) GoString() string { return "auth.Credential{" + c.String() + "}" }

// LogValue keeps slog from printing the secret.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", c.Kind.String()), slog.String("header", c.Header))
}

// Extract finds the request's credential. v1 is true on the /openai/v1
// surface. The rules, in order:
//
//  1. Authorization: Bearer <JWT> (three base64url segments, starting
//     "eyJ") is a token, and wins over an api-key header: wire reference
//     §1.7 recommends evaluating Authorization first when it holds a JWT,
//     and the SDKs never send both, so a request that does is most likely a
//     proxy adding one. Azure's own behaviour is unverified (§6 item 5).
//  2. Otherwise an api-key header (any case) is a key.
//  3. Otherwise Bearer <non-JWT> is a key on v1, where Azure accepts keys in
//     Authorization (§1.4, the plain OpenAI SDK sends them so). On the
//     legacy surface Azure only knows Bearer tokens, so it is treated as a
//     token and fails token validation with §2.3's 401, as Azure would.
//  4. Nothing: 401 with the invalid-key body (§2.2 assumes §2.1's).
//
// Authorization with another scheme (Basic, …) is ignored. Repeated
// headers, empty values and over-long or non-printable values are rejected.
// Every error is an *httpx.Error with Azure's body.
func Extract(h http.Header, v1 bool) (Credential, error) {
	keys := h.Values("Api-Key")
	if len(keys) > 1 {
		return Credential{}, invalidKey(fmt.Errorf("%d api-key headers: %w", len(keys), ErrMalformedCredential))
	}
	bearer, hasBearer, err := bearerToken(h)
	if err != nil {
		return Credential{}, err
	}
	jwt := hasBearer && LooksLikeJWT(bearer)
	switch {
	case jwt:
		return Credential{Kind: CredentialToken, Secret: bearer, Header: "authorization"}, nil
	case len(keys) == 1:
		k := strings.TrimSpace(keys[0])
		if k == "" || len(k) > maxKeyLen || !printable(k) {
			return Credential{}, invalidKey(fmt.Errorf("api-key header of length %d: %w", len(k), ErrMalformedCredential))
		}
		return Credential{Kind: CredentialKey, Secret: k, Header: "api-key"}, nil
	case hasBearer && v1:
		if len(bearer) > maxKeyLen {
			return Credential{}, invalidKey(fmt.Errorf("bearer key of length %d: %w", len(bearer), ErrMalformedCredential))
		}
		return Credential{Kind: CredentialKey, Secret: bearer, Header: "authorization"}, nil
	case hasBearer:
		return Credential{Kind: CredentialToken, Secret: bearer, Header: "authorization"}, nil
	default:
		return Credential{}, invalidKey(ErrNoCredential)
	}
}

// bearerToken reads "Authorization: Bearer <x>". hasBearer is false when the
// header is absent or uses another scheme.
func bearerToken(h http.Header) (token string, hasBearer bool, err error) {
	vals := h.Values("Authorization")
	if len(vals) == 0 {
		return "", false, nil
	}
	if len(vals) > 1 {
		return "", false, invalidToken(fmt.Errorf("%d authorization headers: %w", len(vals), ErrMalformedCredential))
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false, nil
	}
	token = strings.TrimSpace(rest)
	if token == "" || len(token) > maxCredentialLen || !printable(token) {
		return "", false, invalidToken(fmt.Errorf("bearer value of length %d: %w", len(token), ErrMalformedCredential))
	}
	return token, true, nil
}

// printable reports whether s is visible ASCII: no spaces, controls or
// non-ASCII bytes, none of which a key or JWT contains.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// LooksLikeJWT reports whether s has a JWS compact shape: three non-empty
// base64url segments separated by dots, the first starting "eyJ" (the
// encoding of `{"`). Moat and Azure keys never contain dots.
func LooksLikeJWT(s string) bool {
	if !strings.HasPrefix(s, "eyJ") {
		return false
	}
	dots, segLen := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if segLen == 0 {
				return false
			}
			dots++
			segLen = 0
			continue
		}
		if !isBase64URL(c) {
			return false
		}
		segLen++
	}
	return dots == 2 && segLen > 0
}
