package affinity

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultCacheSize is how many pins a Table keeps in memory.
const DefaultCacheSize = 100_000

// Options configure a Table; zero values take the defaults.
type Options struct {
	// Store shares pins with other replicas; nil keeps them in memory only.
	Store Store
	// TTL is how long a pin lives.
	TTL time.Duration
	// Timeout bounds each store call.
	Timeout time.Duration
	// CacheSize bounds the pins held in memory (least recently used go first).
	CacheSize int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Table is the pin cache in front of the store. It is safe for concurrent
// use and outlives config reloads.
type Table struct {
	store   Store
	ttl     time.Duration
	timeout time.Duration
	size    int
	now     func() time.Time

	mu    sync.Mutex
	byID  map[string]*list.Element
	order *list.List // front: most recently used
	stats Stats
}

// Stats counts what the table did, for metrics.
type Stats struct {
	Hits, Misses, StoreErrors uint64
	Entries                   int
}

// NewTable returns a Table with o's settings.
func NewTable(o Options) *Table {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Table{
		store: o.Store, ttl: cmp.Or(o.TTL, DefaultTTL), timeout: cmp.Or(o.Timeout, DefaultStoreTimeout),
		size: cmp.Or(o.CacheSize, DefaultCacheSize), now: o.Now,
		byID: map[string]*list.Element{}, order: list.New(),
	}
}

// TTL is how long the table keeps a pin.
func (t *Table) TTL() time.Duration { return t.ttl }

// Put records that member of deployment holds the object id. The pin is
// cached at once; the store write is bounded by the timeout and its error
// returned, so the caller can log it: this replica still knows the pin.
func (t *Table) Put(ctx context.Context, kind Kind, id, deployment, member string) error {
	now := t.now()
	p := Pin{ID: id, Kind: kind, Deployment: deployment, Member: member, Created: now, Expires: now.Add(t.ttl)}
	t.cache(p)
	if t.store == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
	defer cancel()
	if err := t.store.PutPin(ctx, p); err != nil {
		t.count(func(s *Stats) { s.StoreErrors++ })
		return fmt.Errorf("record pin %s: %w", id, err)
	}
	return nil
}

// Get finds the pin for id: from the cache, else from the store within the
// timeout. It returns ErrNotFound when no pin exists, and an error wrapping
// ErrUnavailable when the store fails and the cache does not hold it.
func (t *Table) Get(ctx context.Context, id string) (Pin, error) {
	now := t.now()
	t.mu.Lock()
	if e, ok := t.byID[id]; ok {
		p := e.Value.(Pin)
		if now.Before(p.Expires) {
			t.order.MoveToFront(e)
			t.stats.Hits++
			t.mu.Unlock()
			return p, nil
		}
		t.removeLocked(e)
	}
	t.stats.Misses++
	t.mu.Unlock()
	if t.store == nil {
		return Pin{}, ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	p, err := t.store.GetPin(ctx, id, now)
	switch {
	case err == nil:
		t.cache(p)
		return p, nil
	case errors.Is(err, ErrNotFound):
		return Pin{}, ErrNotFound
	default:
		t.count(func(s *Stats) { s.StoreErrors++ })
		return Pin{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
}

// Delete forgets the pin for id, here and in the store.
func (t *Table) Delete(ctx context.Context, id string) error {
	t.mu.Lock()
	if e, ok := t.byID[id]; ok {
		t.removeLocked(e)
	}
	t.mu.Unlock()
	if t.store == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
	defer cancel()
	if err := t.store.DeletePin(ctx, id); err != nil {
		t.count(func(s *Stats) { s.StoreErrors++ })
		return fmt.Errorf("delete pin %s: %w", id, err)
	}
	return nil
}

// Sweep removes expired pins from the store; the cache drops its own as
// they are read.
func (t *Table) Sweep(ctx context.Context) (int64, error) {
	if t.store == nil {
		return 0, nil
	}
	return t.store.DeleteExpiredPins(ctx, t.now())
}

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Entries = t.order.Len()
	return s
}

func (t *Table) cache(p Pin) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.byID[p.ID]; ok {
		e.Value = p
		t.order.MoveToFront(e)
		return
	}
	t.byID[p.ID] = t.order.PushFront(p)
	for t.order.Len() > t.size {
		t.removeLocked(t.order.Back())
	}
}

func (t *Table) removeLocked(e *list.Element) {
	delete(t.byID, e.Value.(Pin).ID)
	t.order.Remove(e)
}

func (t *Table) count(f func(*Stats)) {
	t.mu.Lock()
	f(&t.stats)
	t.mu.Unlock()
}
