package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/store/pgstore"
)

// feed runs a store's change feed and exposes what it delivers.
type feed struct {
	live    chan bool
	changes chan auth.Change
}

func watch(t *testing.T, s *pgstore.Store) *feed {
	t.Helper()
	f := &feed{live: make(chan bool, 16), changes: make(chan auth.Change, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.WatchChanges(ctx, func(l bool) { f.live <- l }, func(c auth.Change) { f.changes <- c })
	}()
	t.Cleanup(func() { cancel(); <-done })
	f.wantLive(t, true)
	return f
}

func (f *feed) wantLive(t *testing.T, want bool) {
	t.Helper()
	select {
	case got := <-f.live:
		if got != want {
			t.Fatalf("live = %v, want %v", got, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no live(%v) in 20s", want)
	}
}

func (f *feed) want(t *testing.T, want auth.Change) {
	t.Helper()
	select {
	case got := <-f.changes:
		if got != want {
			t.Fatalf("change = %+v, want %+v", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no change %+v in 10s", want)
	}
}

// TestChangeFeed: every committed change to a key or an assignment reaches
// the listener of the same schema, and only of the same schema; a listener
// whose session is killed reports it and comes back.
func TestChangeFeed(t *testing.T) {
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	s := open(t, dsn, pgstore.Options{Schema: schema, DaysAhead: 1})
	other := open(t, dsn, pgstore.Options{Schema: newSchema(t, dsn), DaysAhead: 1})
	f := watch(t, s)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)

	_ = other.Put(ctx, &auth.Key{ID: "foreign", Hash: []byte("f"), CreatedAt: now}) // another schema: not seen
	key := &auth.Key{ID: "aaaaaaaaaaaa", Hash: []byte("h1"), CreatedAt: now}
	if err := s.Put(ctx, key); err != nil {
		t.Fatal(err)
	}
	f.want(t, auth.Change{Kind: auth.ChangeKey, ID: key.ID})
	if err := s.Revoke(ctx, key.ID, now); err != nil {
		t.Fatal(err)
	}
	f.want(t, auth.Change{Kind: auth.ChangeKey, ID: key.ID})
	a := audit.RoleAssignment{ID: "as1", Role: "r", Principal: "key:x", Scope: "/", CreatedAt: now}
	if err := s.PutAssignment(ctx, a); err != nil {
		t.Fatal(err)
	}
	f.want(t, auth.Change{Kind: auth.ChangeAssignment, ID: "as1"})
	if _, err := s.DeleteAssignment(ctx, "as1"); err != nil {
		t.Fatal(err)
	}
	f.want(t, auth.Change{Kind: auth.ChangeAssignment, ID: "as1"})
	if _, err := s.Pool().Exec(ctx, "TRUNCATE api_keys"); err != nil {
		t.Fatal(err)
	}
	f.want(t, auth.Change{Kind: auth.ChangeAll})

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
	f.wantLive(t, false)
	f.wantLive(t, true)
	if err := s.Put(ctx, &auth.Key{ID: "bbbbbbbbbbbb", Hash: []byte("h2"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	f.want(t, auth.Change{Kind: auth.ChangeKey, ID: "bbbbbbbbbbbb"})
}
