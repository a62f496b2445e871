package affinity_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/affinity"
)

// memStore is an in-memory affinity.Store that can be made to fail, as a
// store outage does.
type memStore struct {
	mu   sync.Mutex
	pins map[string]affinity.Pin
	down bool
	hang bool // calls wait for their deadline, as a frozen database
}

var errDown = errors.New("store down")

func (m *memStore) fail(ctx context.Context) error {
	if m.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if m.down {
		return errDown
	}
	return nil
}

func (m *memStore) PutPin(ctx context.Context, p affinity.Pin) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail(ctx); err != nil {
		return err
	}
	if m.pins == nil {
		m.pins = map[string]affinity.Pin{}
	}
	m.pins[p.ID] = p
	return nil
}

func (m *memStore) GetPin(ctx context.Context, id string, now time.Time) (affinity.Pin, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail(ctx); err != nil {
		return affinity.Pin{}, err
	}
	p, ok := m.pins[id]
	if !ok || !now.Before(p.Expires) {
		return affinity.Pin{}, affinity.ErrNotFound
	}
	return p, nil
}

func (m *memStore) DeletePin(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail(ctx); err != nil {
		return err
	}
	delete(m.pins, id)
	return nil
}

func (m *memStore) DeleteExpiredPins(ctx context.Context, now time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for id, p := range m.pins {
		if !now.Before(p.Expires) {
			delete(m.pins, id)
			n++
		}
	}
	return n, nil
}

func TestTable(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	shared := &memStore{}
	// Two replicas share the store, each with its own cache.
	a := affinity.NewTable(affinity.Options{Store: shared, Now: clock, TTL: time.Hour, Timeout: 20 * time.Millisecond})
	b := affinity.NewTable(affinity.Options{Store: shared, Now: clock, TTL: time.Hour, Timeout: 20 * time.Millisecond})
	if err := a.Put(ctx, affinity.KindResponse, "resp_1", "chat", "east"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		table  *affinity.Table
		id     string
		setup  func()
		member string
		err    error
	}{
		{"other replica reads the store", b, "resp_1", nil, "east", nil},
		{"unknown id", b, "resp_2", nil, "", affinity.ErrNotFound},
		{"store down, cached pin served", b, "resp_1", func() { shared.down = true }, "east", nil},
		{"store down, uncached pin unknown", b, "resp_3", nil, "", affinity.ErrUnavailable},
		{"store frozen, bounded by the timeout", b, "resp_4", func() { shared.down, shared.hang = false, true }, "", affinity.ErrUnavailable},
		{"expired pin forgotten", a, "resp_1", func() { shared.hang = false; now = now.Add(time.Hour) }, "", affinity.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			p, err := tt.table.Get(ctx, tt.id)
			if !errors.Is(err, tt.err) || p.Member != tt.member {
				t.Fatalf("Get(%s) = %+v, %v; want member %q, err %v", tt.id, p, err, tt.member, tt.err)
			}
		})
	}
	if n, err := a.Sweep(ctx); err != nil || n != 1 {
		t.Errorf("sweep: %d, %v", n, err)
	}
}

func TestTableDelete(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	a := affinity.NewTable(affinity.Options{Store: st})
	b := affinity.NewTable(affinity.Options{Store: st})
	_ = a.Put(ctx, affinity.KindFile, "file-1", "batch", "west")
	if _, err := b.Get(ctx, "file-1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(ctx, "file-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "file-1"); !errors.Is(err, affinity.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
}

func TestTableEvicts(t *testing.T) {
	ctx := context.Background()
	tb := affinity.NewTable(affinity.Options{CacheSize: 2})
	for _, id := range []string{"a", "b", "c"} {
		_ = tb.Put(ctx, affinity.KindResponse, id, "d", "m")
	}
	if _, err := tb.Get(ctx, "a"); !errors.Is(err, affinity.ErrNotFound) {
		t.Errorf("oldest pin kept past the cache size: %v", err)
	}
	if s := tb.Stats(); s.Entries != 2 {
		t.Errorf("entries = %d", s.Entries)
	}
}
