package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestLocalConcurrentAllOrNothing races calls over overlapping scopes and
// checks that every scope holds exactly the sum of the calls admitted on it
// (no partial charge survives a denial) and never more than its limit.
func TestLocalConcurrentAllOrNothing(t *testing.T) {
	ctx := context.Background()
	l := NewLocal()
	lims := []*Limit{
		{Key: "key:a", TPM: 20000},
		{Key: "deployment:d", TPM: 9000},
		{Key: "key:a|deployment:d", TPM: 15000, RPM: 120},
	}
	const workers, calls = 8, 300
	var mu sync.Mutex
	charged := make(map[string]int64)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 7))
			for range calls {
				var rq []Request
				for _, lim := range lims {
					if rnd.IntN(2) == 0 {
						rq = append(rq, Request{Limit: lim, Tokens: 10 + rnd.IntN(200)})
					}
				}
				now := t0.Add(time.Duration(rnd.IntN(30000)) * time.Millisecond)
				r, err := l.Reserve(ctx, now, rq)
				var d *Denial
				if errors.As(err, &d) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				// Settle below every scope's estimate, so no scope may
				// exceed its limit (an overrun is allowed by design).
				actual := r.Tokens()
				for _, q := range rq {
					actual = min(actual, q.Tokens/2)
				}
				if rnd.IntN(10) == 0 {
					actual = 0
					_ = r.Cancel(ctx, now)
				} else {
					_ = r.Settle(ctx, now, actual)
				}
				mu.Lock()
				for _, q := range rq {
					charged[q.Limit.Key] += int64(actual)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	at := t0.Add(30 * time.Second)
	for _, lim := range lims {
		s := l.scope(lim.Key, at)
		s.mu.Lock()
		tok, _ := s.w.sums(at.Unix())
		inflight := s.inflight
		s.mu.Unlock()
		if tok != charged[lim.Key] || tok > int64(lim.TPM) || inflight != 0 {
			t.Errorf("%s: window %d, admitted %d, limit %d, inflight %d", lim.Key, tok, charged[lim.Key], lim.TPM, inflight)
		}
	}
}

func TestLocalSweep(t *testing.T) {
	ctx := context.Background()
	l := NewLocal()
	for i := range 100 {
		r, err := l.Reserve(ctx, t0, reqs(5, &Limit{Key: fmt.Sprint("key:", i), TPM: 10}))
		if err != nil {
			t.Fatal(err)
		}
		_ = r.Settle(ctx, t0, 5)
	}
	quota := &Limit{Key: "quota", Quota: 10, QuotaPeriod: PeriodHour}
	qr, err := l.Reserve(ctx, t0, reqs(1, quota))
	if err != nil {
		t.Fatal(err)
	}
	_ = qr.Settle(ctx, t0, 1)
	held, err := l.Reserve(ctx, t0, reqs(1, &Limit{Key: "held", TPM: 10}))
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		at      time.Duration
		removed int
		left    int
	}{
		{"windows still hold counts", 30 * time.Second, 0, 102},
		{"idle windows go", 61 * time.Second, 100, 2},
		{"quota stays for its period and unsettled calls stay", 59 * time.Minute, 0, 2},
		{"quota goes with its period", time.Hour, 1, 1},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if got := l.Sweep(t0.Add(s.at)); got != s.removed {
				t.Errorf("Sweep removed %d, want %d", got, s.removed)
			}
			if got := l.Len(); got != s.left {
				t.Errorf("Len = %d, want %d", got, s.left)
			}
		})
	}
	_ = held.Settle(ctx, t0.Add(time.Hour), 1)
	if got := l.Sweep(t0.Add(time.Hour)); got != 1 {
		t.Errorf("settled scope not swept: removed %d", got)
	}
	// A swept key comes back as a fresh scope.
	if _, err := l.Reserve(ctx, t0.Add(2*time.Hour), reqs(10, &Limit{Key: "key:1", TPM: 10})); err != nil {
		t.Errorf("reserve after sweep: %v", err)
	}
}
