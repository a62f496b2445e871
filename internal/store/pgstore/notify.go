package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/moat-gw/moat/internal/auth"
)

// notifyChannel carries identity changes (migration 5).
const notifyChannel = "moat_identity"

// identityNotifySQL is migration 5. It can run again harmlessly (a test
// re-runs the steps after the rollup's).
const identityNotifySQL = `
CREATE OR REPLACE FUNCTION moat_identity_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	kind text := CASE TG_TABLE_NAME WHEN 'api_keys' THEN 'key' ELSE 'assignment' END;
	id   text := '';
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		kind := 'all';
	ELSIF TG_OP = 'DELETE' THEN
		id := OLD.id;
	ELSE
		id := NEW.id;
	END IF;
	PERFORM pg_notify('` + notifyChannel + `', TG_TABLE_SCHEMA || '/' || kind || '/' || id);
	RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS api_keys_notify ON api_keys;
CREATE TRIGGER api_keys_notify AFTER INSERT OR UPDATE OR DELETE ON api_keys
	FOR EACH ROW EXECUTE FUNCTION moat_identity_notify();
DROP TRIGGER IF EXISTS api_keys_notify_truncate ON api_keys;
CREATE TRIGGER api_keys_notify_truncate AFTER TRUNCATE ON api_keys
	FOR EACH STATEMENT EXECUTE FUNCTION moat_identity_notify();
DROP TRIGGER IF EXISTS role_assignments_notify ON role_assignments;
CREATE TRIGGER role_assignments_notify AFTER INSERT OR UPDATE OR DELETE ON role_assignments
	FOR EACH ROW EXECUTE FUNCTION moat_identity_notify();
DROP TRIGGER IF EXISTS role_assignments_notify_truncate ON role_assignments;
CREATE TRIGGER role_assignments_notify_truncate AFTER TRUNCATE ON role_assignments
	FOR EACH STATEMENT EXECUTE FUNCTION moat_identity_notify();
`

// Listener timing. A notification arrives as soon as it is committed; the
// ping only detects a connection that died or hangs silently, after which
// the cache falls back to its short TTL.
const (
	listenPing        = 5 * time.Second // idle time before checking the connection
	listenPingTimeout = 2 * time.Second
	listenDialTimeout = 5 * time.Second
	listenMaxBackoff  = 10 * time.Second
)

// WatchChanges implements auth.ChangeFeed with LISTEN on a connection of
// its own (outside the pool, which LISTEN would pin). It reconnects with
// backoff until ctx ends.
func (s *Store) WatchChanges(ctx context.Context, live func(bool), changed func(auth.Change)) {
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		listened, err := s.listen(ctx, live, changed)
		if ctx.Err() != nil {
			return
		}
		if listened {
			live(false)
			backoff = 250 * time.Millisecond
		}
		s.logger.Warn("identity change feed down; key cache falls back to its TTL", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

// listen holds one LISTEN session until it fails. listened reports whether
// it got as far as calling live(true).
func (s *Store) listen(ctx context.Context, live func(bool), changed func(auth.Change)) (listened bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, listenDialTimeout)
	defer cancel()
	cfg := s.pool.Config().ConnConfig.Copy()
	// Named, so that an operator (or a test) can find the session.
	cfg.RuntimeParams["application_name"] = listenerName(s.opts.Schema)
	conn, err := pgx.ConnectConfig(dctx, cfg)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	var schema string
	if err := conn.QueryRow(dctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return false, fmt.Errorf("current schema: %w", err)
	}
	if _, err := conn.Exec(dctx, "LISTEN "+pgx.Identifier{notifyChannel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	live(true)
	s.logger.Info("identity change feed listening", "schema", schema)
	prefix := schema + "/"
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if c, ok := parseChange(n.Payload, prefix); ok {
				changed(c)
			}
		case ctx.Err() != nil:
			return true, ctx.Err()
		case pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded):
			pctx, cancel := context.WithTimeout(ctx, listenPingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("ping: %w", err)
			}
		default:
			return true, fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// listenerName is the application_name of the LISTEN session.
func listenerName(schema string) string {
	name := "moat identity feed"
	if schema != "" {
		name += " " + schema
	}
	return name[:min(len(name), 63)]
}

// parseChange reads "<schema>/<kind>/<id>" for this store's schema.
func parseChange(payload, prefix string) (auth.Change, bool) {
	rest, ok := strings.CutPrefix(payload, prefix)
	if !ok {
		return auth.Change{}, false
	}
	kind, id, ok := strings.Cut(rest, "/")
	if !ok {
		return auth.Change{}, false
	}
	switch c := (auth.Change{Kind: auth.ChangeKind(kind), ID: id}); c.Kind {
	case auth.ChangeKey, auth.ChangeAssignment, auth.ChangeAll:
		return c, true
	}
	return auth.Change{}, false
}

var _ auth.ChangeFeed = (*Store)(nil)
