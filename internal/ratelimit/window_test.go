package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"
)

// modelWindow is the obvious, slow sliding window: every charge with its
// second, summed over the last 60 seconds.
type modelWindow struct {
	sec    []int64
	charge []int64
}

func (m *modelWindow) used(nowSec int64) int64 {
	var n int64
	for i, s := range m.sec {
		if s > nowSec-windowSeconds {
			n += m.charge[i]
		}
	}
	return n
}

// retry walks seconds oldest first, like the real window, from the charges.
func (m *modelWindow) retry(nowMs, need, limit int64) time.Duration {
	nowSec := floorDiv(nowMs, 1000)
	used := m.used(nowSec)
	if need > limit {
		return Window
	}
	for s := nowSec - windowSeconds + 1; s <= nowSec; s++ {
		for i := range m.sec {
			if m.sec[i] == s {
				used -= m.charge[i]
			}
		}
		if used+need <= limit {
			return time.Duration((s+windowSeconds)*1000-nowMs) * time.Millisecond
		}
	}
	return Window
}

// FuzzLocalWindow drives Local and the model with the same random calls and
// requires the same admissions and the same retry-after, so the ring of
// buckets is exactly a 60 s sliding window.
func FuzzLocalWindow(f *testing.F) {
	f.Add([]byte{0, 200, 0, 4, 100, 1, 40, 250, 2, 200, 9, 0, 255, 255, 3})
	f.Add([]byte{1, 255, 252, 1, 255, 0, 1, 10, 1, 240, 250, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1000
		ctx := context.Background()
		l := NewLocal()
		lim := &Limit{Key: "fuzz", TPM: limit}
		var m modelWindow
		now := t0
		for i := 0; i+2 < len(data); i += 3 {
			now = now.Add(time.Duration(data[i]) * 250 * time.Millisecond)
			est := int64(data[i+1]) * 4
			nowSec, nowMs := now.Unix(), now.UnixMilli()
			used := m.used(nowSec)
			r, err := l.Reserve(ctx, now, reqs(int(est), lim))
			var d *Denial
			switch {
			case errors.As(err, &d):
				if used+est <= limit {
					t.Fatalf("step %d: denied %d with %d used", i/3, est, used)
				}
				if want := m.retry(nowMs, est, limit); d.RetryAfter != want {
					t.Fatalf("step %d: retry-after %v, model %v", i/3, d.RetryAfter, want)
				}
				continue
			case err != nil:
				t.Fatal(err)
			}
			if used+est > limit {
				t.Fatalf("step %d: admitted %d with %d used", i/3, est, used)
			}
			flag := data[i+2]
			actual := est * int64(flag>>2) / 63
			if flag&3 == 2 {
				_ = r.Cancel(ctx, now)
				continue
			}
			_ = r.Settle(ctx, now, int(actual))
			m.sec = append(m.sec, nowSec)
			m.charge = append(m.charge, actual)
		}
	})
}

func TestFloorDiv(t *testing.T) {
	tests := []struct{ a, b, want int64 }{{7, 2, 3}, {-7, 2, -4}, {-8, 2, -4}, {0, 5, 0}}
	for _, tt := range tests {
		if got := floorDiv(tt.a, tt.b); got != tt.want {
			t.Errorf("floorDiv(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestBoundsIn(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	now := time.Date(2026, 1, 31, 16, 30, 0, 0, time.UTC) // 2026-02-01 01:30 in Tokyo
	tests := []struct {
		p          Period
		loc        *time.Location
		start, end time.Time
	}{
		{PeriodDay, nil, time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{PeriodDay, tokyo, time.Date(2026, 2, 1, 0, 0, 0, 0, tokyo), time.Date(2026, 2, 2, 0, 0, 0, 0, tokyo)},
		{PeriodMonth, tokyo, time.Date(2026, 2, 1, 0, 0, 0, 0, tokyo), time.Date(2026, 3, 1, 0, 0, 0, 0, tokyo)},
		{PeriodMonth, time.UTC, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		s, e := tt.p.BoundsIn(now, tt.loc)
		if !s.Equal(tt.start) || !e.Equal(tt.end) {
			t.Errorf("%s in %v: [%v, %v), want [%v, %v)", tt.p, tt.loc, s, e, tt.start, tt.end)
		}
	}
}
