package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/moat-gw/moat/internal/admin"
	"github.com/moat-gw/moat/internal/admin/admintest"
)

// newIdentityHarness is the admintest.Factory for SQLite: a fresh file, and
// a second, ordinary connection to it for tampering.
func newIdentityHarness(tb testing.TB) admintest.Harness {
	path := filepath.Join(tb.TempDir(), "moat.db")
	return admintest.Harness{
		Open: func(tb testing.TB) admin.Store { return open(tb, path) },
		Exec: func(tb testing.TB, query string) error {
			db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
			if err != nil {
				return err
			}
			defer db.Close()
			_, err = db.ExecContext(context.Background(), query)
			return err
		},
		Unguard: []string{"DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"},
	}
}

func TestIdentityContract(t *testing.T) {
	admintest.Run(t, newIdentityHarness)
}

func BenchmarkKeyGet(b *testing.B) {
	admintest.BenchmarkKeyGet(b, newIdentityHarness)
}

func BenchmarkAuditAppend(b *testing.B) {
	admintest.BenchmarkAuditAppend(b, newIdentityHarness)
}
