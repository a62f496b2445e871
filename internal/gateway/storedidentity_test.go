package gateway

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/proctest"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

// TestSQLiteChangeFeed: with the SQLite store, a key changed by another
// process on the same file (`moat keys revoke`, or any program writing it)
// is refused by the running gateway within a bound, although its cache
// trusts a key for an hour while the change feed is live; a role assigned
// the same way applies without waiting for the 15 s refresh.
func TestSQLiteChangeFeed(t *testing.T) {
	ts := startServer(t, adminConfig())
	other, err := sqlitestore.Open(context.Background(), ts.dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	raw, err := sql.Open("sqlite", ts.dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	cliConfig := filepath.Join(t.TempDir(), "cli.yaml")
	if err := os.WriteFile(cliConfig, []byte("log: {sqlite_path: "+ts.dbPath+"}\n"+
		"upstreams: [{name: sim, type: simulator}]\ndeployments: [{name: d, upstreams: [{upstream: sim}]}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFeedLive(t, ts)
	ctx := context.Background()
	chat := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"

	tests := []struct {
		name   string
		change func(t *testing.T, id string)
	}{
		{"revoked with moat keys revoke", func(t *testing.T, id string) {
			if out, err := proctest.Run(t, nil, "keys", "revoke", id, "--config", cliConfig); err != nil {
				t.Fatalf("moat keys revoke: %v\n%s", err, out)
			}
		}},
		{"revoked through another store handle", func(t *testing.T, id string) {
			if err := other.Revoke(ctx, id, time.Now()); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced through another store handle", func(t *testing.T, id string) {
			k, err := other.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			k.Hash = []byte("another secret's hash")
			if err := other.Put(ctx, k); err != nil {
				t.Fatal(err)
			}
		}},
		{"deleted by a plain connection", func(t *testing.T, id string) {
			if _, err := raw.Exec("DELETE FROM api_keys WHERE id = ?", id); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := createKey(t, ts, `{"name":"app"}`)
			for range 3 { // cached, fresh for NotifyTTL
				if status, _, body := do(t, "POST", chat, chatBody, "api-key", k.Key); status != 200 {
					t.Fatalf("before the change: %d %s", status, body)
				}
			}
			tt.change(t, k.ID)
			start := time.Now()
			waitStatus(t, "POST", chat, chatBody, k.Key, 401)
			t.Logf("refused %s after the change was committed", time.Since(start).Round(time.Millisecond))
		})
	}

	t.Run("role assigned through another store handle", func(t *testing.T) {
		k := createKey(t, ts, `{"name":"ops-to-be"}`)
		if status, _, _ := do(t, "GET", ts.mgmtURL+"/admin/keys", "", "api-key", k.Key); status != 401 {
			t.Fatalf("before the assignment: %d", status)
		}
		err := other.PutAssignment(ctx, audit.RoleAssignment{ID: "feed-test", Role: "Moat Administrator",
			Principal: "key:" + k.ID, Scope: "/", CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		waitStatus(t, "GET", ts.mgmtURL+"/admin/keys", "", k.Key, 200)
		t.Logf("allowed %s after the assignment was committed", time.Since(start).Round(time.Millisecond))
	})

	// Had the feed dropped, the key cache would have fallen back to its
	// TTL and the refusals above would prove nothing about the feed.
	if v := ts.metricValue("moat_identity_feed_live"); v != 1 {
		t.Fatalf("moat_identity_feed_live = %v after the changes, want 1", v)
	}
}

// waitFeedLive waits until ts's identity change feed is live.
func waitFeedLive(t *testing.T, ts *testServer) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ts.metricValue("moat_identity_feed_live") != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("identity change feed not live after 20s")
		}
	}
}

// waitStatus calls url with key until it answers want, for at most 10 s:
// far more than the feed's poll interval, far less than the hour the key
// cache trusts a key and the 15 s between assignment refreshes.
func waitStatus(t *testing.T, method, url, body, key string, want int) {
	t.Helper()
	var status int
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if status, _, got = do(t, method, url, body, "api-key", key); status == want {
			return
		}
	}
	t.Fatalf("%s %s still answers %d after 10s, want %d: %s", method, url, status, want, strings.TrimSpace(got))
}
