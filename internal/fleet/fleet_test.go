package fleet

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCheck(t *testing.T) {
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	r := func(name, fp, lim, state string, ago time.Duration) Replica {
		return Replica{Name: name, Fingerprint: fp, Limits: lim, State: state, LastSeen: now.Add(-ago)}
	}
	type flags struct{ stale, cfg, lim bool }
	tests := []struct {
		name string
		rs   []Replica
		want []flags
	}{
		{"one replica", []Replica{r("a", "f1", "l1", StateServing, time.Second)}, []flags{{}}},
		{"all agree", []Replica{r("a", "f1", "l1", StateServing, 0), r("b", "f1", "l1", StateDraining, 0)}, []flags{{}, {}}},
		{"one differs", []Replica{r("a", "f1", "l1", StateServing, 0), r("b", "f2", "l2", StateServing, 0), r("c", "f1", "l1", StateServing, 0)},
			[]flags{{}, {cfg: true, lim: true}, {}}},
		{"config differs, limits agree", []Replica{r("a", "f1", "l1", StateServing, 0), r("b", "f2", "l1", StateServing, 0), r("c", "f1", "l1", StateServing, 0)},
			[]flags{{}, {cfg: true}, {}}},
		{"no majority", []Replica{r("a", "f1", "l1", StateServing, 0), r("b", "f2", "l2", StateServing, 0)},
			[]flags{{cfg: true, lim: true}, {cfg: true, lim: true}}},
		{"stale and stopped do not vote", []Replica{r("a", "f1", "l1", StateServing, 0), r("b", "f2", "l2", StateServing, time.Hour),
			r("c", "f3", "l3", StateStopped, time.Hour)}, []flags{{}, {stale: true}, {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []flags
			for _, s := range Check(tt.rs, now, 45*time.Second) {
				got = append(got, flags{s.Stale, s.ConfigDiffers, s.LimitsDiffer})
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(flags{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
