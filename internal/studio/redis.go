package studio

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisSessions is a SessionStore in Redis, shared by every replica that
// uses the same Redis and secret, so a browser's session works whichever
// replica a load balancer picks. Sessions hold credentials, so each is
// sealed with AES-256-GCM under a key derived from the secret (the
// gateway's auth.pepper), bound to its Redis key; Redis never holds a
// usable token or API key. Redis expires them with the session.
type RedisSessions struct {
	rdb    redis.Cmdable
	aead   cipher.AEAD
	prefix string
	now    func() time.Time
}

// NewRedisSessions returns a store on rdb. secret must be the same on
// every replica and at least 16 bytes; now is the clock (nil: time.Now).
func NewRedisSessions(rdb redis.Cmdable, secret []byte, now func() time.Time) (*RedisSessions, error) {
	if len(secret) < 16 {
		return nil, errors.New("studio: shared sessions need a secret of 16+ bytes")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("moat studio sessions v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("studio: session cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("studio: session cipher: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &RedisSessions{rdb: rdb, aead: aead, prefix: "moat:studio:", now: now}, nil
}

// Put implements SessionStore.
func (r *RedisSessions) Put(ctx context.Context, key string, s Session) error {
	ttl := s.Expires.Sub(r.now())
	if ttl <= 0 {
		return nil
	}
	plain, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("studio: encode session: %w", err)
	}
	nonce := make([]byte, r.aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := r.aead.Seal(nonce, nonce, plain, []byte(r.prefix+key))
	if err := r.rdb.Set(ctx, r.prefix+key, sealed, ttl).Err(); err != nil {
		return fmt.Errorf("studio: store session: %w", err)
	}
	return nil
}

// Get implements SessionStore. A value that does not open (another
// secret, tampering) is no session.
func (r *RedisSessions) Get(ctx context.Context, key string) (Session, bool, error) {
	b, err := r.rdb.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, fmt.Errorf("studio: read session: %w", err)
	}
	n := r.aead.NonceSize()
	if len(b) < n {
		return Session{}, false, nil
	}
	plain, err := r.aead.Open(nil, b[:n], b[n:], []byte(r.prefix+key))
	if err != nil {
		return Session{}, false, nil
	}
	var s Session
	if err := json.Unmarshal(plain, &s); err != nil || !r.now().Before(s.Expires) {
		return Session{}, false, nil
	}
	return s, true, nil
}

// Delete implements SessionStore.
func (r *RedisSessions) Delete(ctx context.Context, key string) error {
	if err := r.rdb.Del(ctx, r.prefix+key).Err(); err != nil {
		return fmt.Errorf("studio: delete session: %w", err)
	}
	return nil
}
