package ratelimit

import "time"

// window is a 60 s sliding window of 1 s buckets, as a ring indexed by the
// unix second modulo 60, with running totals so a check costs O(1). Time in
// a window only moves forward: last is the latest second seen, and a caller
// whose clock is behind (another goroutine, a skewed replica) is treated as
// being at last, which errs on the side of limiting.
type window struct {
	last     int64 // latest second seen
	tok, req int64 // totals of the live buckets
	sec      [windowSeconds]int64
	btok     [windowSeconds]int64
	breq     [windowSeconds]int64
}

func slot(sec int64) int {
	i := sec % windowSeconds
	if i < 0 {
		i += windowSeconds
	}
	return int(i)
}

// advance expires the buckets that left the window by nowSec and returns the
// window's current second, max(nowSec, last).
func (w *window) advance(nowSec int64) int64 {
	if nowSec <= w.last {
		return w.last
	}
	if nowSec-w.last >= windowSeconds {
		w.tok, w.req = 0, 0
		w.sec, w.btok, w.breq = [windowSeconds]int64{}, [windowSeconds]int64{}, [windowSeconds]int64{}
	} else {
		for s := w.last + 1; s <= nowSec; s++ {
			i := slot(s)
			w.tok -= w.btok[i]
			w.req -= w.breq[i]
			w.sec[i], w.btok[i], w.breq[i] = s, 0, 0
		}
	}
	w.last = nowSec
	return nowSec
}

// sums returns the tokens and requests in the window ending at nowSec.
func (w *window) sums(nowSec int64) (tok, req int64) {
	w.advance(nowSec)
	return w.tok, w.req
}

// add charges tok and req to the bucket of nowSec (of last if the caller's
// clock is behind) and returns that bucket's second, for the settle.
func (w *window) add(nowSec, tok, req int64) int64 {
	s := w.advance(nowSec)
	i := slot(s)
	if w.sec[i] != s {
		w.sec[i], w.btok[i], w.breq[i] = s, 0, 0
	}
	w.btok[i] += tok
	w.breq[i] += req
	w.tok += tok
	w.req += req
	return s
}

// adjust applies a settle: the deltas go to the admission bucket (the second
// add returned) while it is still in the window; after that an increase of
// tokens goes to the current bucket and refunds are dropped (they no longer
// hold anything back). It reports whether the admission bucket was live.
func (w *window) adjust(admSec, nowSec, dtok, dreq int64) bool {
	last := w.advance(nowSec)
	i := slot(admSec)
	if w.sec[i] == admSec && admSec > last-windowSeconds {
		nt, nr := max(0, w.btok[i]+dtok), max(0, w.breq[i]+dreq)
		w.tok += nt - w.btok[i]
		w.req += nr - w.breq[i]
		w.btok[i], w.breq[i] = nt, nr
		return true
	}
	if dtok > 0 {
		w.add(nowSec, dtok, 0)
	}
	return false
}

// empty reports whether nothing is left in the window ending at nowSec.
func (w *window) empty(nowSec int64) bool {
	tok, req := w.sums(nowSec)
	return tok == 0 && req == 0
}

// retryAfter is the time from nowMs until used-freed+need ≤ limit, freeing
// the oldest buckets first; a need above the limit waits a whole window.
// requests selects the request counters instead of the token counters.
func (w *window) retryAfter(nowMs, used, need, limit int64, requests bool) time.Duration {
	if need > limit {
		return Window
	}
	last := max(floorDiv(nowMs, 1000), w.last)
	for s := last - windowSeconds + 1; s <= last; s++ { // oldest first
		i := slot(s)
		if w.sec[i] != s {
			continue
		}
		if requests {
			used -= w.breq[i]
		} else {
			used -= w.btok[i]
		}
		if used+need <= limit {
			return time.Duration((s+windowSeconds)*1000-nowMs) * time.Millisecond
		}
	}
	// Unreachable while used matches the buckets; a window is a safe answer.
	return Window
}

// floorDiv divides rounding toward minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
