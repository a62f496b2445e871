// Package studio is moat's private studio on the management plane: people
// sign in (OIDC authorization code with PKCE against the configured
// issuer, or an API key when allowed), try a deployment in a streaming
// playground, see deployments and upstreams, manage keys, role
// assignments and the audit log, and read calls.
//
// The studio holds no authority of its own. A session keeps the signed-in
// principal's credential server-side (the access token or key; the cookie
// carries only a random session ID), and every view and action is
// performed with that credential through moat's own surfaces: the admin
// API for keys, roles and audit, the data-plane pipeline for playground
// calls, the KQL query API for calls. RBAC therefore decides each of them
// exactly as it would for the same principal calling directly, and the
// playground's calls are authenticated, limited and logged like any call.
//
// Everything is embedded: no CDN, a strict Content-Security-Policy, and a
// CSRF token bound to the session on every state change.
package studio
