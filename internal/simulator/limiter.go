package simulator

import (
	"sync"
	"time"
)

// window is the span over which TPM and RPM are counted.
const window = 60 * time.Second

// limiter enforces one deployment's TPM and RPM over a sliding 60-second
// window kept as sixty one-second buckets, so memory stays constant however
// heavy the load. Tokens are the admission estimate, as Azure counts them
// (wire reference §2.9): never settled against real usage.
type limiter struct {
	tpm, rpm int

	mu      sync.Mutex
	buckets [60]bucket
}

type bucket struct {
	sec      int64 // Unix second the bucket counts; stale when outside the window
	tokens   int
	requests int
}

// verdict is the limiter's answer for one request.
type verdict struct {
	// limited is "token" or "call" when the request is refused, as in
	// Azure's 429 text; empty when admitted.
	limited string
	// retryAfter is how long until the request would fit.
	retryAfter time.Duration
	// remainingTokens and remainingRequests are what is left in the window
	// after this request (-1 for an unlimited dimension).
	remainingTokens, remainingRequests int
}

func newLimiter(tpm, rpm int) *limiter {
	return &limiter{tpm: tpm, rpm: rpm}
}

// admit counts a request estimated at cost tokens at time now, or refuses it.
// Requests are checked before tokens, as Azure does (§2.12).
func (l *limiter) admit(now time.Time, cost int) verdict {
	if l.tpm == 0 && l.rpm == 0 {
		return verdict{remainingTokens: -1, remainingRequests: -1}
	}
	sec := now.Unix()
	l.mu.Lock()
	defer l.mu.Unlock()
	usedTokens, usedRequests := l.used(sec)
	v := verdict{remainingTokens: -1, remainingRequests: -1}
	if l.rpm > 0 {
		if usedRequests+1 > l.rpm {
			v.limited = "call"
			v.retryAfter = l.wait(now, usedRequests+1-l.rpm, func(b bucket) int { return b.requests })
			v.remainingRequests = max(0, l.rpm-usedRequests)
		} else {
			v.remainingRequests = l.rpm - usedRequests - 1
		}
	}
	if l.tpm > 0 {
		v.remainingTokens = max(0, l.tpm-usedTokens)
		if v.limited == "" && usedTokens+cost > l.tpm {
			v.limited = "token"
			if cost > l.tpm {
				// Never fits; Azure still answers 429 with a retry hint.
				v.retryAfter = window
			} else {
				v.retryAfter = l.wait(now, usedTokens+cost-l.tpm, func(b bucket) int { return b.tokens })
			}
		}
	}
	if v.limited != "" {
		if l.rpm > 0 && v.limited == "token" {
			v.remainingRequests = l.rpm - usedRequests
		}
		return v
	}
	if l.tpm > 0 {
		v.remainingTokens = l.tpm - usedTokens - cost
	}
	b := &l.buckets[slot(sec)]
	if b.sec != sec {
		*b = bucket{sec: sec}
	}
	b.tokens += cost
	b.requests++
	return v
}

// used sums the live buckets of the window ending at second sec.
func (l *limiter) used(sec int64) (tokens, requests int) {
	for _, b := range l.buckets {
		if live(b, sec) {
			tokens += b.tokens
			requests += b.requests
		}
	}
	return tokens, requests
}

func live(b bucket, sec int64) bool {
	return b.sec > sec-60 && b.sec <= sec && (b.tokens > 0 || b.requests > 0)
}

// wait is how long until buckets holding at least excess (of what amount
// measures) have left the window.
func (l *limiter) wait(now time.Time, excess int, amount func(bucket) int) time.Duration {
	sec := now.Unix()
	freed := 0
	for s := sec - 59; s <= sec; s++ {
		b := l.buckets[slot(s)]
		if !live(b, sec) || b.sec != s {
			continue
		}
		freed += amount(b)
		if freed >= excess {
			return time.Unix(b.sec, 0).Add(window).Sub(now)
		}
	}
	return window
}

// slot is the bucket index of a Unix second, also for clocks before 1970.
func slot(sec int64) int {
	return int((sec%60 + 60) % 60)
}
