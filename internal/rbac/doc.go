// Package rbac is moat's role-based access control, modelled on Azure RBAC
// for data actions: role definitions with DataActions and NotDataActions
// ('*' wildcards, case-insensitive), the Azure OpenAI built-in roles of wire
// reference §4.1 plus moat's own, and assignments of a role to a principal
// selector (object, group, app role, client or key ID) at a scope ("/" or
// "/deployments/<name-or-glob>"). Everything not granted is denied.
//
// Denials are Azure's 401 PermissionDenied (§2.4), naming the principal, the
// missing data action and the templated operation path.
//
// It is a policy package and imports only leaves (openai, httpx). It declares
// the Principal interface it needs instead of importing auth; *auth.Principal
// implements it, and the gateway passes one to the other.
package rbac
