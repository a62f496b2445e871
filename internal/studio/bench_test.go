package studio

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/moat-gw/moat/internal/proctest"
)

// benchSignedIn measures what the studio adds before a hook runs: cookie,
// session lookup, CSRF check and the request copy with the credential.
func benchSignedIn(b *testing.B, store SessionStore) {
	s := &Studio{o: Options{Logger: nil, Now: time.Now}, sessions: store}
	s.o.Logger = discard()
	sess := Session{CSRF: "csrf-token", Principal: "alice", Header: "Authorization", Credential: "Bearer eyJ", Expires: time.Now().Add(time.Hour)}
	if err := store.Put(context.Background(), storeKey("s:", "sid"), sess); err != nil {
		b.Fatal(err)
	}
	h := s.signedIn(func(w http.ResponseWriter, r *http.Request, sess Session, _ string) {
		_ = asPrincipal(r, sess, http.MethodPost, "/admin/keys", "")
		w.WriteHeader(http.StatusNoContent)
	})
	r := httptest.NewRequest(http.MethodPost, "/studio/api/admin/keys", nil)
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: "sid"})
	r.Header.Set(CSRFHeader, "csrf-token")
	r.Header.Set("Content-Type", "application/json")
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNoContent {
			b.Fatalf("status %d", w.Code)
		}
	}
}

func BenchmarkSignedInMemory(b *testing.B) { benchSignedIn(b, NewMemorySessions(nil)) }

func BenchmarkSignedInRedis(b *testing.B) {
	srv := proctest.StartRedis(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	rs, err := NewRedisSessions(rdb, []byte("a-pepper-shared-by-the-replicas"), nil)
	if err != nil {
		b.Fatal(err)
	}
	benchSignedIn(b, rs)
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
