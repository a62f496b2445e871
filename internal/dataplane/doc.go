// Package dataplane is moat's request path: one immutable Pipeline per
// config, built by Build, whose ServeHTTP runs a call through its stages in
// a fixed order and logs it once.
//
// The stages, in the order ServeHTTP runs them (pipeline.go says why this
// order):
//
//  1. scope (scope.go): request ID and Azure's correlation headers.
//  2. network (network.go): client address and network access rules.
//  3. authenticate (identity.go): key, token or client certificate.
//  4. route (route.go): path and api-version, as Azure answers them.
//  5. body (pipeline.go, bodytimeout.go): bounded read and parse.
//  6. authorize (identity.go): key scope, then RBAC data actions.
//  7. deployment lookup (pipeline.go).
//  8. limits (limits.go): reserve before forwarding, settle after.
//  9. proxy (proxy.go, transport.go, capture.go, idle.go): ReverseProxy
//     with failover over the deployment's pool, usage captured on the way.
//  10. finish (finish.go, anonlog.go, telemetry.go): one request-log
//     record, metrics and span per call.
//
// Listing (list.go) and whoami (whoami.go) are answers of the data plane
// that forward nothing.
//
// What the package may import: the leaves (openai, httpx, reqlog, audit,
// tokens' interface through TokenCounter), the policy packages (netpolicy,
// auth, rbac, ratelimit, route), upstream, telemetry and config. It never
// imports a store, admin, kql, logquery or dashboard package, nor gateway:
// what it needs of them is declared here as a small interface or function
// (AssignmentStore, Deps.RoleAssignments, auth.KeyStore) and adapted by the
// process (package gateway), which opens the stores, binds the listeners,
// serves the management plane and swaps pipelines on reload.
// internal/deptest enforces this.
package dataplane
