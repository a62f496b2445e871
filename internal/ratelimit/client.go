package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClientOptions returns go-redis options for the limiter's client whose
// every wait fits in timeout: no command retries (a retry after a timeout
// doubles the wait, and the limiter has its own backend-down path), one
// dial attempt, dial, read, write and pool waits of timeout, and the
// context's deadline honoured, so a frozen or unreachable Redis costs a
// call at most timeout. The go-redis defaults (3 retries, 5 dial attempts,
// a pool wait of read timeout + 1 s) let calls wait 8–13 s on a frozen
// Redis.
func ClientOptions(addr, password string, db int, timeout time.Duration) *redis.Options {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &redis.Options{Addr: addr, Password: password, DB: db,
		MaxRetries: -1, DialerRetries: 1, DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		PoolTimeout: timeout, ContextTimeoutEnabled: true,
		// CLIENT SETINFO on connect is one more round trip that an old or
		// restricted server may refuse; moat needs no client identity.
		DisableIdentity: true}
}

// redisLogEvery is the least time between two lines of go-redis's own log.
const redisLogEvery = time.Second

// RedisLogger writes go-redis's own log lines (pool dial failures and the
// like, about 16 a second while Redis is down) to a slog.Logger as
// warnings, at most one a second with a count of the lines left out, so
// they keep the configured log format (log.format: json) and cannot flood.
type RedisLogger struct {
	log *slog.Logger

	mu      sync.Mutex
	last    time.Time
	dropped int
}

// NewRedisLogger returns a RedisLogger writing to log.
func NewRedisLogger(log *slog.Logger) *RedisLogger { return &RedisLogger{log: log} }

// Printf implements go-redis's logging interface.
func (l *RedisLogger) Printf(ctx context.Context, format string, v ...any) {
	now := time.Now()
	l.mu.Lock()
	if !l.last.IsZero() && now.Sub(l.last) < redisLogEvery {
		l.dropped++
		l.mu.Unlock()
		return
	}
	dropped := l.dropped
	l.last, l.dropped = now, 0
	l.mu.Unlock()
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...), "suppressed", dropped)
}

// RouteRedisLogs sends go-redis's log lines to log. go-redis keeps one
// logger for the whole process (redis.SetLogger, no per-client option in
// v9), so this is the one process-wide setting moat makes; the process
// entry point calls it once, with the process logger, before any client
// exists. Without it go-redis writes unstructured lines to stderr.
func RouteRedisLogs(log *slog.Logger) {
	redis.SetLogger(NewRedisLogger(log))
}
