// Package auth authenticates callers the way Azure OpenAI does: API keys in
// the api-key header (or Authorization: Bearer on the v1 surface) and Entra
// ID / OIDC bearer JWTs, answering failures with Azure's exact bodies (wire
// reference §1.4, §1.7, §2.1–§2.5, §4.3).
//
// Keys are stored only as hashes (see Hasher) and found by ID (moat_ keys)
// or by hash (Azure-style static keys), never by scanning; KeyStore is
// declared here and implemented by the database stores. Tokens are verified
// against each issuer's JWKS, fetched by discovery, cached, refreshed on
// unknown kid at a bounded rate, and fail closed when no keys can be had.
//
// It is a policy package and imports only leaves (openai, httpx). The
// Principal it returns satisfies rbac.Principal without importing rbac.
//
// The gateway calls, per request: Extract (or Authenticator.AuthenticateRequest),
// Authenticator.Authenticate, then — once the operation and deployment are
// known — Principal.CheckKeyScope and rbac's Authorizer.Check.
package auth
