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
	next(t, w.live, want, 20*time.Second, "live")
}

// Want fails the test unless the next change is want, within 10 s.
func (w *Feed) Want(t *testing.T, want auth.Change) {
	t.Helper()
	next(t, w.changes, want, 10*time.Second, "change")
}

// next fails the test unless the next value from ch, within d, is want.
func next[T comparable](t *testing.T, ch <-chan T, want T, d time.Duration, what string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("%s = %+v, want %+v", what, got, want)
		}
	case <-time.After(d):
		t.Fatalf("no %s %+v in %v", what, want, d)
	}
}
