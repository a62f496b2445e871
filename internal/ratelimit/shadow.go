package ratelimit

import "time"

// A Redis limiter keeps a Local as its shadow: every call this replica
// admits, through Redis or through the local_share fallback, is charged
// there too, and settles adjust it. The shadow is what lets a replica put
// its part of the current windows back when Redis comes back empty, and
// what its local_share fallback counts against, so a replica that already
// spent its share through Redis gets no more while Redis is away.

// seen is what Redis last said about a scope's fleet-wide window, and what
// this replica admitted alone since. The local_share fallback gives a
// replica its share of what was left then (until that window has passed),
// so replicas that together had filled the window cannot refill it alone
// however unevenly they had shared it.
type seen struct {
	at       int64 // unix second of the last answer from Redis; 0 never
	remTok   int64 // tokens left then over the call's scopes (-1 no TPM)
	remReq   int64 // requests left then (-1 no RPM)
	tok, req int64 // admitted locally since
}

func (s *seen) set(at, remTok, remReq int64) {
	*s = seen{at: at, remTok: remTok, remReq: remReq}
}

// deny checks a local admission of it against LocalShare of what Redis
// last left, while that answer's window lasts.
func (s *seen) deny(it *item, nowMs int64) (DenialKind, time.Duration) {
	if s.at == 0 || it.lim.LocalShare <= 0 || nowMs >= (s.at+windowSeconds)*1000 {
		return "", 0
	}
	after := time.Duration((s.at+windowSeconds)*1000-nowMs) * time.Millisecond
	f := it.lim.LocalShare
	if it.lim.TPM > 0 && s.remTok >= 0 && s.tok+it.tokens > int64(float64(s.remTok)*f) {
		return DeniedTokens, after
	}
	if it.lim.RPM > 0 && s.remReq >= 0 && s.req+1 > int64(float64(s.remReq)*f) {
		return DeniedRequests, after
	}
	return "", 0
}

// see records what Redis said about r's scopes in a denial.
func (l *Local) see(r *Reservation, now time.Time, remTok, remReq int64) {
	for i := range r.items {
		sc := l.scope(r.items[i].lim.Key, now)
		sc.mu.Lock()
		sc.seen.set(now.Unix(), remTok, remReq)
		sc.mu.Unlock()
	}
}

// pending is what a replica charged to a scope that Redis has not seen:
// admissions of the local_share fallback while Redis was unreachable, and
// settles that could not reach it (of a settle sent without an answer,
// only an increase: recordIncrease). It is merged into Redis when the
// store answers again.
type pending struct {
	buckets map[int64]*[2]int64 // window second → tokens, requests
	qStart  int64               // quota period start of q
	q       int64
}

// pending returns the scope's pending changes, creating them; the caller
// holds s.mu.
func (s *scope) pending() *pending {
	if s.pend == nil {
		s.pend = &pending{buckets: make(map[int64]*[2]int64)}
	}
	return s.pend
}

// add records a change of tok and req in window second sec (-1: the quota
// only) for it.
func (p *pending) add(it *item, sec, tok, req int64) {
	if sec >= 0 && (tok != 0 || req != 0) {
		b := p.buckets[sec]
		if b == nil {
			b = new([2]int64)
			p.buckets[sec] = b
		}
		b[0] += tok
		b[1] += req
	}
	if it.lim.Quota > 0 && tok != 0 && it.qStart >= p.qStart {
		if it.qStart > p.qStart {
			p.qStart, p.q = it.qStart, 0 // the older period is over
		}
		p.q += tok
	}
}

// contribution is one scope's part of a re-seed or a merge into Redis.
type contribution struct {
	lim     Limit
	buckets [][3]int64 // window second, tokens, requests
	qStart  int64      // quota period start of q
	qEnd    int64
	q       int64
}

// empty reports whether c would change nothing.
func (c *contribution) empty() bool { return len(c.buckets) == 0 && c.q == 0 }

// takePending returns every scope's pending changes still in a live window
// or quota period, and forgets them.
func (l *Local) takePending(now time.Time) []contribution {
	nowSec := now.Unix()
	return l.collect(func(s *scope) contribution {
		c := contribution{lim: s.lim}
		p := s.pend
		s.pend = nil
		for sec, b := range p.buckets {
			if sec > nowSec-windowSeconds && (b[0] != 0 || b[1] != 0) {
				c.buckets = append(c.buckets, [3]int64{sec, b[0], b[1]})
			}
		}
		if s.lim.Quota > 0 && p.q != 0 {
			c.qStart, c.qEnd, c.q = p.qStart, periodEnd(&s.lim, p.qStart), p.q
		}
		return c
	}, true)
}

// snapshot returns every scope's whole charge in the live windows and
// quota periods (this replica's part of the shared counters) and forgets
// the pending changes, which the snapshot includes.
func (l *Local) snapshot(now time.Time) []contribution {
	nowSec := now.Unix()
	return l.collect(func(s *scope) contribution {
		s.pend = nil
		c := contribution{lim: s.lim}
		last := s.w.advance(nowSec)
		for i := range s.w.sec {
			if sec := s.w.sec[i]; sec > last-windowSeconds && (s.w.btok[i] != 0 || s.w.breq[i] != 0) {
				c.buckets = append(c.buckets, [3]int64{sec, s.w.btok[i], s.w.breq[i]})
			}
		}
		if s.lim.Quota > 0 && s.qUsed > 0 && nowSec < s.qEnd {
			c.qStart, c.qEnd, c.q = s.qStart, s.qEnd, s.qUsed
		}
		return c
	}, false)
}

// collect runs f on every scope under its lock (only those with pending
// changes when onlyPending) and keeps the non-empty results.
func (l *Local) collect(f func(*scope) contribution, onlyPending bool) []contribution {
	var out []contribution
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.RLock()
		for _, s := range sh.m {
			s.mu.Lock()
			if !onlyPending || s.pend != nil {
				if c := f(s); !c.empty() && c.lim.Key != "" {
					out = append(out, c)
				}
			}
			s.mu.Unlock()
		}
		sh.mu.RUnlock()
	}
	return out
}

// periodEnd is the end of the quota period that starts at start.
func periodEnd(l *Limit, start int64) int64 {
	_, end := l.QuotaPeriod.BoundsIn(time.Unix(start, 0), l.QuotaZone)
	return end.Unix()
}
