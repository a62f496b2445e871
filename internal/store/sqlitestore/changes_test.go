package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/auth"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
	"github.com/moat-gw/moat/internal/store/storetest"
)

// rawDB is a plain connection to the file at path, as another program
// (or an operator with the sqlite3 shell) would open it.
func rawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func exec(tb testing.TB, db *sql.DB, query string, args ...any) {
	tb.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
}

// TestChangeFeed: every committed change to a key or an assignment made
// through another handle on the file (another process, in production) is
// delivered, in order; a failed write delivers nothing and leaves no gap.
func TestChangeFeed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "moat.db")
	s := open(t, path)
	other := open(t, path)
	raw := rawDB(t, path)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := other.Put(ctx, &auth.Key{ID: "before", Hash: []byte("h0"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	f := storetest.Watch(t, s) // starts at the end of the log: "before" is not replayed

	key := func(id, hash string) *auth.Key { return &auth.Key{ID: id, Hash: []byte(hash), CreatedAt: now} }
	keyChange := auth.Change{Kind: auth.ChangeKey, ID: "aaaaaaaaaaaa"}
	asChange := auth.Change{Kind: auth.ChangeAssignment, ID: "as1"}
	tests := []struct {
		name    string
		do      func() error
		wantErr bool
		want    []auth.Change
	}{
		{name: "create", do: func() error { return other.Put(ctx, key("aaaaaaaaaaaa", "h1")) }, want: []auth.Change{keyChange}},
		{name: "revoke", do: func() error { return other.Revoke(ctx, "aaaaaaaaaaaa", now) }, want: []auth.Change{keyChange}},
		{name: "replace", do: func() error { return other.Put(ctx, key("aaaaaaaaaaaa", "h2")) }, want: []auth.Change{keyChange}},
		{name: "hash taken: nothing logged", do: func() error { return other.Put(ctx, key("bbbbbbbbbbbb", "h2")) }, wantErr: true},
		{name: "delete", do: func() error { _, err := raw.Exec("DELETE FROM api_keys WHERE id = 'aaaaaaaaaaaa'"); return err }, want: []auth.Change{keyChange}},
		{name: "rename", do: func() error {
			_, err := raw.Exec("UPDATE api_keys SET id = 'cccccccccccc' WHERE id = 'before'")
			return err
		},
			want: []auth.Change{{Kind: auth.ChangeKey, ID: "before"}, {Kind: auth.ChangeKey, ID: "cccccccccccc"}}},
		{name: "assign", do: func() error {
			return other.PutAssignment(ctx, audit.RoleAssignment{ID: "as1", Role: "r", Principal: "key:x", Scope: "/", CreatedAt: now})
		}, want: []auth.Change{asChange}},
		{name: "unassign", do: func() error { _, err := other.DeleteAssignment(ctx, "as1"); return err }, want: []auth.Change{asChange}},
		{name: "several in one transaction", do: func() error {
			_, err := raw.Exec("BEGIN; INSERT INTO api_keys (id, hash, created_at) VALUES ('dddddddddddd', x'01', 0), ('eeeeeeeeeeee', x'02', 0); COMMIT")
			return err
		}, want: []auth.Change{{Kind: auth.ChangeKey, ID: "dddddddddddd"}, {Kind: auth.ChangeKey, ID: "eeeeeeeeeeee"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			for _, c := range tt.want {
				f.Want(t, c)
			}
		})
	}
}

// TestChangeFeedGaps: when rows the feed had not read are gone, it says
// anything may have changed (auth.ChangeAll), then carries on; pruning
// rows it had read is no gap.
func TestChangeFeedGaps(t *testing.T) {
	tests := []struct {
		name    string
		disturb func(t *testing.T, s *sqlitestore.Store, raw *sql.DB)
		want    auth.Change
	}{
		{"unread rows deleted", func(t *testing.T, _ *sqlitestore.Store, raw *sql.DB) {
			exec(t, raw, `BEGIN; INSERT INTO identity_changes (kind, id, at) VALUES ('key', 'lost1', 0), ('key', 'lost2', 0);
DELETE FROM identity_changes WHERE id IN ('lost1', 'lost2');
INSERT INTO api_keys (id, hash, created_at) VALUES ('ffffffffffff', x'0f', 0); COMMIT`)
		}, auth.Change{Kind: auth.ChangeAll}},
		{"log emptied with unread rows", func(t *testing.T, _ *sqlitestore.Store, raw *sql.DB) {
			exec(t, raw, `BEGIN; INSERT INTO identity_changes (kind, id, at) VALUES ('key', 'lost', 0); DELETE FROM identity_changes; COMMIT`)
		}, auth.Change{Kind: auth.ChangeAll}},
		{"log reset (file replaced)", func(t *testing.T, _ *sqlitestore.Store, raw *sql.DB) {
			exec(t, raw, `DELETE FROM identity_changes; DELETE FROM sqlite_sequence WHERE name = 'identity_changes'`)
		}, auth.Change{Kind: auth.ChangeAll}},
		{"log emptied once read", func(t *testing.T, s *sqlitestore.Store, raw *sql.DB) {
			exec(t, raw, `DELETE FROM identity_changes`)
			time.Sleep(2 * sqlitestore.ChangePollInterval) // let the feed see the empty log
			if err := s.Put(context.Background(), &auth.Key{ID: "ffffffffffff", Hash: []byte("f"), CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}, auth.Change{Kind: auth.ChangeKey, ID: "ffffffffffff"}},
		{"read rows pruned", func(t *testing.T, s *sqlitestore.Store, _ *sql.DB) {
			if _, err := s.PruneChanges(context.Background(), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := s.Put(context.Background(), &auth.Key{ID: "ffffffffffff", Hash: []byte("f"), CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}, auth.Change{Kind: auth.ChangeKey, ID: "ffffffffffff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "moat.db")
			s := open(t, path)
			raw := rawDB(t, path)
			f := storetest.Watch(t, s)
			ctx := context.Background()
			for _, id := range []string{"111111111111", "222222222222"} {
				if err := s.Put(ctx, &auth.Key{ID: id, Hash: []byte(id), CreatedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
				f.Want(t, auth.Change{Kind: auth.ChangeKey, ID: id})
			}
			tt.disturb(t, s, raw)
			f.Want(t, tt.want)
			if err := s.Revoke(ctx, "111111111111", time.Now()); err != nil {
				t.Fatal(err)
			}
			f.Want(t, auth.Change{Kind: auth.ChangeKey, ID: "111111111111"})
		})
	}
}

// TestChangeFeedOutage: while the log cannot be read the feed is not live
// (the key cache falls back to its short TTL); when it can again the feed
// is live and delivers what was committed meanwhile.
func TestChangeFeedOutage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "moat.db")
	s := open(t, path)
	other := open(t, path)
	raw := rawDB(t, path)
	f := storetest.Watch(t, s)
	ctx := context.Background()
	exec(t, raw, `ALTER TABLE identity_changes RENAME TO identity_changes_away`)
	f.WantLive(t, false)
	// The triggers follow the renamed table, so the change is still logged.
	if err := other.Put(ctx, &auth.Key{ID: "aaaaaaaaaaaa", Hash: []byte("a"), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	exec(t, raw, `ALTER TABLE identity_changes_away RENAME TO identity_changes`)
	f.WantLive(t, true)
	f.Want(t, auth.Change{Kind: auth.ChangeKey, ID: "aaaaaaaaaaaa"})

	// A closed store is an outage that lasts.
	s.Close()
	f.WantLive(t, false)
}

// TestPruneChanges: pruning deletes rows older than the cutoff, oldest
// first, never the newest row, and at most ChangePruneMax at a time.
func TestPruneChanges(t *testing.T) {
	old, recent := time.Unix(1000, 0), time.Now()
	cutoff := recent.Add(-time.Minute)
	tests := []struct {
		name        string
		old, recent int
		want        []int64 // rows deleted by successive prunes
		wantLeft    int
	}{
		{name: "empty log", want: []int64{0}},
		{name: "nothing old", recent: 3, want: []int64{0}, wantLeft: 3},
		{name: "old rows go", old: 3, recent: 2, want: []int64{3, 0}, wantLeft: 2},
		{name: "all old: the newest stays", old: 5, want: []int64{4, 0}, wantLeft: 1},
		{name: "bounded", old: sqlitestore.ChangePruneMax + 500, recent: 1, want: []int64{sqlitestore.ChangePruneMax, 500, 0}, wantLeft: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "moat.db")
			s := open(t, path)
			raw := rawDB(t, path)
			const insert = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
INSERT INTO identity_changes (kind, id, at) SELECT 'key', 'k' || i, ?2 FROM n WHERE ?1 > 0`
			exec(t, raw, insert, tt.old, sqlitestore.EncodeTime(old))
			exec(t, raw, insert, tt.recent, sqlitestore.EncodeTime(recent))
			for i, want := range tt.want {
				got, err := s.PruneChanges(context.Background(), cutoff)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("prune %d deleted %d rows, want %d", i+1, got, want)
				}
			}
			var left int
			var newest, maxSeq int64
			if err := raw.QueryRow(`SELECT count(*), coalesce(max(seq), 0),
	coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'identity_changes'), 0) FROM identity_changes`).
				Scan(&left, &newest, &maxSeq); err != nil {
				t.Fatal(err)
			}
			if left != tt.wantLeft || newest != maxSeq {
				t.Errorf("left %d rows, newest %v; want %d rows, newest %v", left, newest, tt.wantLeft, maxSeq)
			}
		})
	}
}
