package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/store/pgstore"
	"github.com/moat-gw/moat/internal/store/storetest"
)

// TestChangeFeed: every committed change to a key or an assignment reaches
// the listener of the same schema, and only of the same schema; a listener
// whose session is killed reports it and comes back.
func TestChangeFeed(t *testing.T) {
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	s := open(t, dsn, pgstore.Options{Schema: schema, DaysAhead: 1})
	other := open(t, dsn, pgstore.Options{Schema: newSchema(t, dsn), DaysAhead: 1})
	f := storetest.Watch(t, s)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)

	_ = other.Put(ctx, &auth.Key{ID: "foreign", Hash: []byte("f"), CreatedAt: now}) // another schema: not seen
	key := &auth.Key{ID: "aaaaaaaaaaaa", Hash: []byte("h1"), CreatedAt: now}
	if err := s.Put(ctx, key); err != nil {
		t.Fatal(err)
	}
	f.Want(t, auth.Change{Kind: auth.ChangeKey, ID: key.ID})
	if err := s.Revoke(ctx, key.ID, now); err != nil {
		t.Fatal(err)
	}
	f.Want(t, auth.Change{Kind: auth.ChangeKey, ID: key.ID})
	a := audit.RoleAssignment{ID: "as1", Role: "r", Principal: "key:x", Scope: "/", CreatedAt: now}
	if err := s.PutAssignment(ctx, a); err != nil {
		t.Fatal(err)
	}
	f.Want(t, auth.Change{Kind: auth.ChangeAssignment, ID: "as1"})
	if _, err := s.DeleteAssignment(ctx, "as1"); err != nil {
		t.Fatal(err)
	}
	f.Want(t, auth.Change{Kind: auth.ChangeAssignment, ID: "as1"})
	if _, err := s.Pool().Exec(ctx, "TRUNCATE api_keys"); err != nil {
		t.Fatal(err)
	}
	f.Want(t, auth.Change{Kind: auth.ChangeAll})

	// Kill the listening session: the feed says so, reconnects, and
	// delivers again.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var killed int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, "moat identity feed "+schema).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminate listener: %d sessions, %v", killed, err)
	}
	f.WantLive(t, false)
	f.WantLive(t, true)
	if err := s.Put(ctx, &auth.Key{ID: "bbbbbbbbbbbb", Hash: []byte("h2"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	f.Want(t, auth.Change{Kind: auth.ChangeKey, ID: "bbbbbbbbbbbb"})
}
