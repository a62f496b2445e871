package studio

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/moat-gw/moat/internal/proctest"
)

// TestRedisSessionsShared: a session stored by one replica is read by
// another with the same secret, never by one with another secret; Redis
// holds it sealed and expires it with the session.
func TestRedisSessionsShared(t *testing.T) {
	srv := proctest.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	secret := []byte("the-shared-auth-pepper-of-replicas")
	a, err := NewRedisSessions(rdb, secret, clock)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewRedisSessions(rdb, secret, clock)
	other, _ := NewRedisSessions(rdb, []byte("another-deployment-secret-value"), clock)

	const token = "Bearer eyJ-a-token-that-must-not-be-stored-in-clear"
	sess := Session{CSRF: "c", Principal: "alice@contoso.com", AuthType: "entra", Header: "Authorization",
		Credential: token, Expires: now.Add(time.Hour)}
	if err := a.Put(ctx, "s:1", sess); err != nil {
		t.Fatal(err)
	}
	raw, err := rdb.Get(ctx, "moat:studio:s:1").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("eyJ-a-token")) || bytes.Contains(raw, []byte("alice")) {
		t.Error("the session is stored in clear")
	}
	if ttl := rdb.TTL(ctx, "moat:studio:s:1").Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("Redis TTL %s, want up to the session's hour", ttl)
	}

	tests := []struct {
		name   string
		store  *RedisSessions
		key    string
		wantOK bool
	}{
		{name: "another replica", store: b, key: "s:1", wantOK: true},
		{name: "another secret", store: other, key: "s:1"},
		{name: "unknown", store: b, key: "s:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := tt.store.Get(ctx, tt.key)
			if err != nil || ok != tt.wantOK || (ok && got.Credential != token) {
				t.Errorf("Get = %+v %v %v", got, ok, err)
			}
		})
	}

	// A value moved to another key does not open there (bound to its key).
	rdb.Set(ctx, "moat:studio:s:3", raw, time.Hour)
	if _, ok, _ := b.Get(ctx, "s:3"); ok {
		t.Error("a sealed session opened under another key")
	}
	now = now.Add(time.Hour)
	if _, ok, _ := b.Get(ctx, "s:1"); ok {
		t.Error("an expired session was returned")
	}
	_ = a.Delete(ctx, "s:1")
	if rdb.Exists(ctx, "moat:studio:s:1").Val() != 0 {
		t.Error("Delete left the key")
	}
	if _, err := NewRedisSessions(rdb, []byte("short"), nil); err == nil {
		t.Error("a short secret was accepted")
	}
}
