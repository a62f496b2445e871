// Package idp is a local token issuer for offline development and tests
// ONLY. It imitates just enough of Entra ID for moat and Azure SDK clients
// to work without a tenant: OpenID discovery and JWKS, the v2
// client-credentials token endpoint, and the App Service managed-identity
// protocol (IDENTITY_ENDPOINT + IDENTITY_HEADER, wire reference §4.4),
// minting Entra v1-shaped app tokens (§4.3) signed with a local RSA key.
//
// It has no users, no consent, no certificate credentials and no
// protection beyond a shared header and client secrets: whoever reaches it
// can mint tokens that a moat configured to trust it will accept. Serve it
// on loopback, and never list it as a trusted issuer in production config.
//
// Point moat at it with auth.Issuer{TenantID: iss.TenantID(),
// DiscoveryURL: base + idp.DiscoveryPath}; point an SDK at it with
// IDENTITY_ENDPOINT=base+idp.MSIPath and IDENTITY_HEADER=<the secret>.
package idp
