package dataplane

import (
	"io"
	"sync/atomic"
	"time"
)

// idleBody cuts a response whose upstream goes silent for longer than the
// idle timeout between reads (stream events), by canceling the upstream call.
type idleBody struct {
	io.ReadCloser
	timer *time.Timer
	d     time.Duration
	fired atomic.Bool
}

func newIdleBody(rc io.ReadCloser, d time.Duration, s *scope) *idleBody {
	b := &idleBody{ReadCloser: rc, d: d}
	cancel := s.cancelUpstream
	b.timer = time.AfterFunc(d, func() {
		b.fired.Store(true)
		s.idleTimedOut.Store(true)
		if cancel != nil {
			cancel()
		}
	})
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 && !b.fired.Load() {
		b.timer.Reset(b.d)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.ReadCloser.Close()
}
