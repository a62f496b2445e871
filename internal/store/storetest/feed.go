package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/auth"
)

// Feed runs a store's identity change feed for a test and exposes what it
// delivers, so both stores' feed tests read it the same way.
type Feed struct {
	live    chan bool
	changes chan auth.Change
}

// Watch runs f's WatchChanges until the test ends and waits for it to
// report itself live.
func Watch(t *testing.T, f auth.ChangeFeed) *Feed {
	t.Helper()
	w := &Feed{live: make(chan bool, 16), changes: make(chan auth.Change, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.WatchChanges(ctx, func(l bool) { w.live <- l }, func(c auth.Change) { w.changes <- c })
	}()
	t.Cleanup(func() { cancel(); <-done })
	w.WantLive(t, true)
	return w
}

// WantLive fails the test unless the next live report is want, within 20 s.
func (w *Feed) WantLive(t *testing.T, want bool) {
	t.Helper()
	select {
	case got := <-w.live:
		if got != want {
			t.Fatalf("live = %v, want %v", got, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no live(%v) in 20s", want)
	}
}

// Want fails the test unless the next change is want, within 10 s.
func (w *Feed) Want(t *testing.T, want auth.Change) {
	t.Helper()
	select {
	case got := <-w.changes:
		if got != want {
			t.Fatalf("change = %+v, want %+v", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no change %+v in 10s", want)
	}
}
