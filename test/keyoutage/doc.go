// Package keyoutage runs real `moat serve` processes on PostgreSQL behind a
// TCP forwarder and checks that calls with stored keys survive the store
// refusing connections and hanging, and that a revocation reaches every
// replica, and that token calls are answered at once when the token issuer
// hangs (docs/identity.md; figures in docs/benchmarks.md, "Reliability").
//
// PostgreSQL is the machine's shared one, in a schema of the test's own;
// faults are made at the forwarder only. Without PostgreSQL the tests skip
// locally and fail when the CI environment variable is set.
package keyoutage
