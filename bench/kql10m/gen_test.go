package main

import (
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// TestGeneratorMix checks the synthetic traffic has the documented shape:
// time order, the error mix and streams.
func TestGeneratorMix(t *testing.T) {
	end := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	g := newGenerator(1, end.Add(-24*time.Hour), end, 100_000)
	recs := make([]reqlog.Record, 100_000)
	if n := g.fill(recs); n != len(recs) {
		t.Fatalf("fill = %d", n)
	}
	var throttled, failed, streamed int
	callers, deps := map[string]bool{}, map[string]bool{}
	for i, r := range recs {
		if i > 0 && r.Time.Before(recs[i-1].Time) {
			t.Fatalf("record %d goes back in time", i)
		}
		switch {
		case r.Status == 429:
			throttled++
		case r.Status >= 400:
			failed++
		}
		if r.Streamed {
			streamed++
		}
		callers[r.Caller], deps[r.Deployment] = true, true
	}
	share := func(n int) float64 { return float64(n) / float64(len(recs)) }
	if s := share(throttled); s < 0.025 || s > 0.035 {
		t.Errorf("429 share %.3f, want about 0.03", s)
	}
	if s := share(failed); s < 0.015 || s > 0.025 {
		t.Errorf("other error share %.3f, want about 0.02", s)
	}
	if s := share(streamed); s < 0.2 || s > 0.4 {
		t.Errorf("stream share %.3f", s)
	}
	if len(callers) != 36 || len(deps) != 12 {
		t.Errorf("%d callers and %d deployments, want 36 and 12", len(callers), len(deps))
	}
	if n := g.fill(recs); n != 0 {
		t.Errorf("fill after the end = %d", n)
	}
}

func BenchmarkGenerator(b *testing.B) {
	end := time.Now()
	g := newGenerator(1, end.Add(-24*time.Hour), end, 1<<62)
	recs := make([]reqlog.Record, 1000)
	b.ReportAllocs()
	for b.Loop() {
		g.fill(recs)
	}
}
