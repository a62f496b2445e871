package auth

import "context"

// ChangeKind says what changed in an identity store.
type ChangeKind string

// Change kinds.
const (
	// ChangeKey: the key with Change.ID was created, replaced, revoked or deleted.
	ChangeKey ChangeKind = "key"
	// ChangeAssignment: a stored role assignment was added or removed.
	ChangeAssignment ChangeKind = "assignment"
	// ChangeAll: anything may have changed (a table was truncated, or
	// changes the feed had not read were lost).
	ChangeAll ChangeKind = "all"
)

// Change is one change reported by a ChangeFeed.
type Change struct {
	Kind ChangeKind
	ID   string // the key ID for ChangeKey; the assignment ID for ChangeAssignment
}

// ChangeFeed is implemented by stores that can tell every replica about
// identity changes as they are committed (pgstore, with LISTEN/NOTIFY;
// sqlitestore, by polling a change log that triggers fill). It is what lets
// the key cache trust entries for long (KeyCacheOptions.NotifyTTL) and
// still apply a revocation made by another replica or process at once.
type ChangeFeed interface {
	// WatchChanges runs until ctx ends, reconnecting as needed. It calls
	// live(true) once it listens (after every reconnect: changes may have
	// been missed while it did not), live(false) when it loses the
	// connection or cannot tell whether it still has it, and changed for
	// every change while it listens. Callbacks are called from one
	// goroutine and must not block for long.
	WatchChanges(ctx context.Context, live func(bool), changed func(Change))
}
