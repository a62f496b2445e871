package auth

import (
	"context"
	"sync"
)

// flightGroup runs one call per key at a time and shares its result with
// every caller that asks for the same key meanwhile. Unlike a plain
// singleflight, the call runs in its own goroutine, bounded by a deadline of
// its own (set by fn), and each caller waits only as long as its own
// context allows: a caller that gives up leaves at once and parks nothing,
// and a hanging backend holds one goroutine, not one per caller.
type flightGroup[T any] struct {
	mu    sync.Mutex
	calls map[string]*flight[T]
}

type flight[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// do returns the result of fn for key, starting fn unless a call for key is
// already in flight. It returns ctx's error if ctx ends first; fn carries on
// for the callers that stay.
func (g *flightGroup[T]) do(ctx context.Context, key string, fn func() (T, error)) (T, error) {
	f := g.start(key, fn)
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// start returns the call in flight for key, starting fn if there is none.
func (g *flightGroup[T]) start(key string, fn func() (T, error)) *flight[T] {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.calls[key]; ok {
		return f
	}
	if g.calls == nil {
		g.calls = map[string]*flight[T]{}
	}
	f := &flight[T]{done: make(chan struct{})}
	g.calls[key] = f
	go func() {
		defer func() {
			g.mu.Lock()
			delete(g.calls, key)
			g.mu.Unlock()
			close(f.done)
		}()
		f.val, f.err = fn()
	}()
	return f
}

// inFlight reports whether a call for key is running.
func (g *flightGroup[T]) inFlight(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.calls[key]
	return ok
}
