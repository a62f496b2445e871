// Package audit is moat's tamper-evident record of management actions (keys
// created, revoked and regenerated; roles assigned and removed): an
// append-only log whose entries are hash-chained, so that editing, inserting
// or deleting a stored row is detected by Verify, which names the first
// broken sequence number.
//
// Each entry's hash is SHA-256 over a canonical, length-prefixed encoding of
// its fields and the previous entry's hash (see Canonical). The database
// stores implement the append (under a lock that serializes appends across
// replicas, so the chain never forks) and call Next to link the new entry.
//
// It is a leaf: it imports nothing of moat's, so that the stores and the
// admin package can share its types without depending on each other.
package audit
