package dataplane

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/config"
)

// flakyAssignments is an AssignmentStore that can fail or hang.
type flakyAssignments struct {
	mu   sync.Mutex
	list []audit.RoleAssignment
	err  error
	hang bool
}

func (f *flakyAssignments) ListAssignments(ctx context.Context) ([]audit.RoleAssignment, error) {
	f.mu.Lock()
	list, err, hang := f.list, f.err, f.hang
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return list, err
}

func (f *flakyAssignments) PutAssignment(context.Context, audit.RoleAssignment) error { return nil }
func (f *flakyAssignments) DeleteAssignment(context.Context, string) (audit.RoleAssignment, error) {
	return audit.RoleAssignment{}, nil
}

func (f *flakyAssignments) set(err error, hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.hang = err, hang
}

// TestAssignmentsLastKnownGood: when the store fails or hangs, the last
// assignments read serve until max stale, then reading fails (closed).
func TestAssignmentsLastKnownGood(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	st := NewStoredIdentity(slog.New(slog.DiscardHandler), clock)
	store := &flakyAssignments{list: []audit.RoleAssignment{{ID: "a1", Role: "r", Principal: "key:k", Scope: "/"}}}
	ctx := context.Background()
	const timeout, maxStale = 20 * time.Millisecond, time.Minute

	store.set(errors.New("refused"), false)
	if _, err := st.readAssignments(ctx, store, timeout, maxStale); err == nil {
		t.Fatal("never read and the store fails: want an error")
	}
	store.set(nil, false)
	if got, err := st.readAssignments(ctx, store, timeout, maxStale); err != nil || len(got) != 1 {
		t.Fatalf("store up: %v, %v", got, err)
	}
	for _, tc := range []struct {
		name string
		err  error
		hang bool
	}{{"refused", errors.New("refused"), false}, {"hung", nil, true}} {
		t.Run(tc.name, func(t *testing.T) {
			store.set(tc.err, tc.hang)
			now = now.Add(20 * time.Second)
			got, err := st.readAssignments(ctx, store, timeout, maxStale)
			if err != nil || len(got) != 1 || got[0].ID != "a1" {
				t.Errorf("within max stale: %v, %v; want the last known good", got, err)
			}
		})
	}
	now = now.Add(time.Minute)
	if _, err := st.readAssignments(ctx, store, timeout, maxStale); err == nil {
		t.Error("past max stale: want an error")
	}
}

// TestKeyCacheKeptAcrossReload: a reload with the same cache settings keeps
// the cache (and what it knows); changed settings build a new one that
// inherits the feed's state.
func TestKeyCacheKeptAcrossReload(t *testing.T) {
	st := NewStoredIdentity(slog.New(slog.DiscardHandler), time.Now)
	cfg := &config.Config{}
	first := st.keyCache(cfg)
	first.SetLive(true)
	if again := st.keyCache(&config.Config{}); again != first {
		t.Error("same settings: the cache was rebuilt")
	}
	changed := &config.Config{}
	changed.Auth.Cache.Size = 10
	next := st.keyCache(changed)
	if next == first {
		t.Fatal("changed settings: the cache was kept")
	}
	if !next.Live() {
		t.Error("the rebuilt cache forgot that the change feed is live")
	}
	if st.CurrentKeys() != next {
		t.Error("CurrentKeys is not the rebuilt cache")
	}
}
