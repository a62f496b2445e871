package ratelimit

import (
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// driftLogEvery is how often one rule's drift is logged at most.
const driftLogEvery = time.Minute

// Drift is a rule whose shared window in Redis was last charged under
// another limit than this replica's: replicas run different configs.
type Drift struct {
	// Rule is the rule name, the counter key up to its first "|"
	// ("keylimits" for per-key limits). It names no key or caller.
	Rule string
	// TPM and RPM are this replica's limits.
	TPM, RPM int
	// TheirTPM and TheirRPM are the limits found in Redis (-1: none there).
	TheirTPM, TheirRPM int
	// Seen is when it was last observed.
	Seen time.Time
}

// driftLog remembers the latest drift per rule; rules are few (config),
// so the map stays small.
type driftLog struct {
	log    *slog.Logger
	mu     sync.Mutex
	seen   map[string]*Drift
	logged map[string]time.Time
}

func (d *driftLog) observe(now time.Time, lim *Limit, theirTPM, theirRPM int) {
	rule, _, _ := strings.Cut(lim.Key, "|")
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil {
		d.seen, d.logged = make(map[string]*Drift), make(map[string]time.Time)
	}
	d.seen[rule] = &Drift{Rule: rule, TPM: lim.TPM, RPM: lim.RPM, TheirTPM: theirTPM, TheirRPM: theirRPM, Seen: now}
	if last, ok := d.logged[rule]; ok && now.Sub(last) < driftLogEvery {
		return
	}
	d.logged[rule] = now
	d.log.Warn("rate limit drift: another replica enforces a different limit for this rule; the fleet admits up to the largest",
		"rule", rule, "tpm", lim.TPM, "rpm", lim.RPM, "their_tpm", theirTPM, "their_rpm", theirRPM)
}

// Drifts returns the latest drift observed per rule, sorted by rule. A
// rule stays listed once seen; Seen tells whether it is still happening.
func (r *Redis) Drifts() []Drift {
	r.drift.mu.Lock()
	defer r.drift.mu.Unlock()
	out := make([]Drift, 0, len(r.drift.seen))
	for _, d := range r.drift.seen {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rule < out[j].Rule })
	return out
}
