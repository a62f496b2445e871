// Package proctest runs the real processes that fault tests need: moat
// itself as separate `moat serve` processes, a redis-server of the test's
// own that it can stop, freeze and restart empty, and a TCP forwarder that
// stands between moat and PostgreSQL and can refuse or hang connections.
//
// Tests never touch the machine's shared PostgreSQL or Redis: PostgreSQL
// faults are made at the forwarder, in front of a schema of the test's own,
// and Redis faults on a redis-server the test started.
//
// Like the other *test packages it is imported only by tests. Outside CI a
// missing program (redis-server, PostgreSQL) skips the test; with CI set it
// fails it, so that a fault suite can never pass by not running.
package proctest

import (
	"os"
	"testing"
)

// unavailable skips the test outside CI and fails it in CI: the fault
// suites must run there.
func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format, args...)
}
