package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/moat-gw/moat/internal/httpx"
)

// cutWait bounds how long Shutdown waits, after cutting the calls left at
// the end of the grace period, for their handlers to log them.
const cutWait = 5 * time.Second

// closeServers closes every listener and waits up to grace for the calls in
// flight. When grace runs out it cancels what is left with
// httpx.ErrShutdown and waits (up to cutWait) for those calls to be logged
// before closing their connections.
//
// A grace period that ends with no connection of a listener active (a
// request being read, served or answered) is not a failure for it: what
// kept its http.Server.Shutdown waiting were connections that never sent a
// request, which net/http leaves open until they are 5 s old (a client's
// transport dials spares under concurrency). They are closed as the others
// are, losing nothing.
func (s *Server) closeServers(ctx context.Context, grace time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, b := range s.servers {
		wg.Go(func() {
			err := b.srv.Shutdown(ctx)
			if err == nil {
				return
			}
			busy := b.active.count()
			if n := s.inflight.Load(); n > 0 && busy > 0 {
				s.log.Warn("grace period over: cutting calls in flight", "listener", b.name, "calls", n)
			}
			s.cut(httpx.ErrShutdown)
			s.waitInflight(cutWait)
			_ = b.srv.Close()
			if busy == 0 {
				return
			}
			mu.Lock()
			errs = append(errs, fmt.Errorf("shutdown %s: %w", b.name, err))
			mu.Unlock()
		})
	}
	wg.Wait()
	s.cut(httpx.ErrShutdown)
	return errors.Join(errs...)
}

// waitInflight waits until no data-plane handler runs, at most d.
func (s *Server) waitInflight(d time.Duration) {
	deadline := time.Now().Add(d)
	for s.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}
