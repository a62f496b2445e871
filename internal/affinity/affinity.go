// Package affinity remembers which pool member holds an object that lives on
// one upstream only: a stored response (and so its previous_response_id
// chain), an uploaded file, a batch. Every later call on the object must
// reach that member, whatever the pool's weights say, so the gateway records
// a pin when the object is created and looks it up by the object's ID.
//
// Pins are shared by every replica through the store, and kept in a cache in
// front of it: a pin never changes once written (it is deleted or expires),
// so a cached pin is good until it expires. Store calls are bounded by a
// deadline, so a store outage costs a call at most that long and then only
// the pins this replica has cached are known.
package affinity

import (
	"context"
	"errors"
	"time"
)

// Kind is the kind of object pinned.
type Kind string

// Kinds of pinned objects.
const (
	KindResponse Kind = "response"
	KindFile     Kind = "file"
	KindBatch    Kind = "batch"
	// KindBatchOutput is a batch's output or error file: its content is
	// the batch's results, charged when read.
	KindBatchOutput Kind = "batch_output"
)

// DefaultTTL is how long a pin is kept: 30 days, Azure's retention of stored
// responses (and the longest a batch output file is kept), so a pin outlives
// the object it points to.
const DefaultTTL = 30 * 24 * time.Hour

// DefaultStoreTimeout bounds one store read or write, as for key lookups.
const DefaultStoreTimeout = 750 * time.Millisecond

// Pin says which pool member holds an object.
type Pin struct {
	// ID is the upstream's object ID (resp_…, file-…, batch_…).
	ID   string
	Kind Kind
	// Deployment is moat's deployment whose pool holds the member.
	Deployment string
	// Member is the upstream (pool member) name in config.
	Member string
	// Created is when the pin was written, Expires when it may be forgotten.
	Created time.Time
	Expires time.Time
}

// ErrNotFound means no pin is known for the ID (never created through moat,
// deleted, or expired).
var ErrNotFound = errors.New("affinity: no pin for this id")

// ErrUnavailable means the store could not be read and the cache does not
// hold the pin: where the object lives is unknown for now.
var ErrUnavailable = errors.New("affinity: pin store unavailable")

// Store keeps pins; the SQLite and PostgreSQL stores implement it.
// GetPin returns ErrNotFound (wrapped or not) for unknown or expired IDs.
type Store interface {
	PutPin(ctx context.Context, p Pin) error
	GetPin(ctx context.Context, id string, now time.Time) (Pin, error)
	DeletePin(ctx context.Context, id string) error
	// DeleteExpiredPins removes pins that expired before now, and reports
	// how many.
	DeleteExpiredPins(ctx context.Context, now time.Time) (int64, error)
}
