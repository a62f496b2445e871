package pgstore_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/admin"
	"github.com/moat-gw/moat/internal/admin/admintest"
	"github.com/moat-gw/moat/internal/store/pgstore"
)

// newIdentityHarness is the admintest.Factory for PostgreSQL: a schema of
// its own, and a plain connection to it for tampering.
func newIdentityHarness(tb testing.TB) admintest.Harness {
	dsn := testDSN(tb)
	schema := newSchema(tb, dsn)
	return admintest.Harness{
		Open: func(tb testing.TB) admin.Store {
			return open(tb, dsn, pgstore.Options{Schema: schema, DaysAhead: 1})
		},
		Exec: func(tb testing.TB, query string) error {
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, "SET search_path TO "+pgx.Identifier{schema}.Sanitize()); err != nil {
				return err
			}
			_, err = conn.Exec(ctx, query)
			return err
		},
		Unguard: []string{"DROP TRIGGER audit_log_no_change ON audit_log"},
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
