package route

import "time"

// Carry makes p, a pool just built from a reloaded config, take over prev's
// live state (bench, breaker, headroom) for every member whose Name and
// Target are unchanged, so a reload does not send calls to an upstream that
// was told to back off or whose breaker is open. Members that are new or
// whose Target changed start fresh; state of members p lacks is dropped with
// prev. It returns how many members carried their state.
//
// Carried state is shared, not copied: p also takes over prev's mutex, so a
// call that started on prev and reports after the swap still lands in the
// state p routes by (with prev's settings, as the call started under them).
// The hot path is unchanged: one mutex per pool, no allocation.
//
// p's settings apply to the carried state from now on: a bench is cut to
// MaxBench from now, an open breaker stays open until it opened plus the new
// OpenFor, a changed Window restarts the failure-rate count, and new
// thresholds apply from the next outcome (a consecutive-failure count
// already over a lowered threshold opens the breaker on the next failure).
//
// Carry must be called once, before p serves any call or is shared with
// another goroutine; prev may be serving. A nil prev carries nothing.
func (p *Pool) Carry(prev *Pool, now time.Time) int {
	if prev == nil || prev == p {
		return 0
	}
	t := now.UnixNano()
	prev.mu.Lock()
	defer prev.mu.Unlock()
	n := 0
	for i := range p.members {
		m := &p.members[i]
		j, ok := prev.byName[m.Name]
		if !ok || prev.members[j].Target != m.Target {
			continue
		}
		h := prev.members[j].h
		h.adopt(&prev.opts, &p.opts, t)
		m.h = h
		n++
	}
	if n > 0 {
		p.mu = prev.mu
	}
	return n
}

// adopt applies a new pool's settings to state kept from an old one.
func (h *health) adopt(from, to *Options, t int64) {
	h.benchUntil = min(h.benchUntil, t+int64(to.MaxBench))
	b := &h.br
	if b.open && to.Breaker.OpenFor != from.Breaker.OpenFor {
		b.openUntil = b.openedAt + int64(to.Breaker.OpenFor)
	}
	if to.Breaker.Window != from.Breaker.Window {
		b.bucket = [rateBuckets]bucket{}
	}
}
