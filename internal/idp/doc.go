// Package idp is a local token issuer for offline development and tests
// ONLY. It imitates just enough of Entra ID for moat and Azure SDK clients
// to work without a tenant: OpenID discovery and JWKS, the v2
// client-credentials token endpoint, the App Service managed-identity
// protocol (IDENTITY_ENDPOINT + IDENTITY_HEADER, wire reference §4.4), and
// the authorization code flow with PKCE (S256 required) for sign-in pages
// such as moat's studio, minting Entra v1-shaped tokens (§4.3) signed with
// a local RSA key.
//
// Its users have no passwords: the sign-in page lists them and whoever
// reaches it picks one. It has no consent, no certificate credentials and
// no protection beyond a shared header and client secrets: whoever reaches
// it can mint tokens that a moat configured to trust it will accept. Serve it
// on loopback, and never list it as a trusted issuer in production config.
//
// Point moat at it with auth.Issuer{TenantID: iss.TenantID(),
// DiscoveryURL: base + idp.DiscoveryPath}; point an SDK at it with
// IDENTITY_ENDPOINT=base+idp.MSIPath and IDENTITY_HEADER=<the secret>.
package idp
