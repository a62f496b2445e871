// Package admin is moat's management plane for identity: API keys
// (create, list, revoke, regenerate with a grace period), role assignments
// and the audit log, as an HTTP API (New) and as a Service that the CLI
// drives directly against the configured store.
//
// Every mutation appends an entry to the hash-chained audit log (package
// audit) naming the actor, the target ID and what changed. A key's
// plaintext is returned exactly once, in the response that creates it, and
// never reaches a log line, an error or an audit row.
//
// admin declares the store interfaces it needs (auth.KeyStore,
// AssignmentStore, AuditLog); the SQLite and PostgreSQL stores satisfy them
// without importing this package. Authentication and RBAC belong to the
// gateway, which passes an Authorize function in Options.
package admin
