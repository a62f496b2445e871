// Package fleet is what moat replicas sharing a store know about each
// other: each one records itself (name, version, config fingerprint, limits)
// in the store's replicas table on a heartbeat, and Check compares the rows,
// so that a replica running a different config, or one that stopped
// reporting, is visible in moat status rather than in an over-admitted limit.
//
// It is a leaf: stores implement Store, the gateway writes heartbeats.
package fleet

import (
	"context"
	"time"
)

// Replica states, as recorded by the replica itself.
const (
	StateServing  = "serving"
	StateDraining = "draining" // shutting down: /readyz answers 503
	StateStopped  = "stopped"  // shut down cleanly
)

// Replica is one row of the replicas table.
type Replica struct {
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Fingerprint string    `json:"fingerprint"` // of the effective config, secrets excluded
	Limits      string    `json:"limits"`      // the rate-limit rules, in a canonical short form
	State       string    `json:"state"`
	Started     time.Time `json:"started"`
	LastSeen    time.Time `json:"last_seen"`
}

// Store keeps the replicas table. Implementations must be safe for
// concurrent use.
type Store interface {
	// Heartbeat inserts or replaces the row named r.Name.
	Heartbeat(ctx context.Context, r Replica) error
	// Replicas returns every row, by name.
	Replicas(ctx context.Context) ([]Replica, error)
}

// Status is a replica with what Check found about it.
type Status struct {
	Replica
	// Stale: not stopped, but silent for longer than the stale limit.
	Stale bool `json:"stale"`
	// ConfigDiffers: its fingerprint is not the fleet's (the one most live
	// replicas share; with no single most common one, every live replica
	// differs).
	ConfigDiffers bool `json:"config_differs"`
	// LimitsDiffer: its rate-limit rules are not the fleet's, decided the
	// same way. Replicas with different limits over-admit together.
	LimitsDiffer bool `json:"limits_differ"`
}

// Drift reports whether anything is wrong with s.
func (s Status) Drift() bool { return s.Stale || s.ConfigDiffers || s.LimitsDiffer }

// Check compares rs at now. A replica is stale when it is not stopped and
// was last seen more than staleAfter ago. Only live replicas (neither
// stale nor stopped) decide what the fleet's config is, and only they are
// compared with it.
func Check(rs []Replica, now time.Time, staleAfter time.Duration) []Status {
	out := make([]Status, len(rs))
	var fps, lims []string
	for i, r := range rs {
		out[i].Replica = r
		out[i].Stale = r.State != StateStopped && now.Sub(r.LastSeen) > staleAfter
		if live(out[i]) {
			fps = append(fps, r.Fingerprint)
			lims = append(lims, r.Limits)
		}
	}
	fp, fpOK := mostCommon(fps)
	lim, limOK := mostCommon(lims)
	for i := range out {
		if !live(out[i]) {
			continue
		}
		out[i].ConfigDiffers = !fpOK || out[i].Fingerprint != fp
		out[i].LimitsDiffer = !limOK || out[i].Limits != lim
	}
	return out
}

func live(s Status) bool { return !s.Stale && s.State != StateStopped }

// mostCommon returns the value most of vs share, and false when two or more
// values tie for it. An empty list has no disagreement.
func mostCommon(vs []string) (string, bool) {
	if len(vs) == 0 {
		return "", true
	}
	n := map[string]int{}
	for _, v := range vs {
		n[v]++
	}
	best, count, tie := "", 0, false
	for v, c := range n {
		switch {
		case c > count:
			best, count, tie = v, c, false
		case c == count:
			tie = true
		}
	}
	return best, !tie
}
