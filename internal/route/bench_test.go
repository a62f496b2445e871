package route

import (
	"math/rand/v2"
	"testing"
	"time"
)

func benchPool(b *testing.B) *Pool {
	return newPool(b, Options{},
		Member{Name: "eastus", Priority: 1, Weight: 3}, Member{Name: "westus", Priority: 1, Weight: 1},
		Member{Name: "swedencentral", Priority: 2})
}

// BenchmarkAppendCandidatesObserve is the per-attempt cost on the
// allocation-free path: build the list, report the first attempt.
func BenchmarkAppendCandidatesObserve(b *testing.B) {
	p := benchPool(b)
	rnd := rand.NewPCG(1, 2)
	names := p.Members()
	buf := make([]int, 0, 8)
	now := t0
	ok := Outcome{Status: 200, RemainingTokens: 50000}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		c, err := p.AppendCandidates(buf[:0], now, rnd)
		if err != nil {
			b.Fatal(err)
		}
		p.Observe(names[c[0]].Name, ok, now)
	}
}

// BenchmarkCandidatesObserve is the same with the []string convenience.
func BenchmarkCandidatesObserve(b *testing.B) {
	p := benchPool(b)
	rnd := rand.NewPCG(1, 2)
	now := t0
	ok := Outcome{Status: 200, RemainingTokens: 50000}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		c, err := p.Candidates(now, rnd)
		if err != nil {
			b.Fatal(err)
		}
		p.Observe(c[0], ok, now)
	}
}

// BenchmarkCandidatesObserveParallel shares one pool between goroutines
// using the global random source, as the gateway does.
func BenchmarkCandidatesObserveParallel(b *testing.B) {
	p := benchPool(b)
	ok := Outcome{Status: 200, RemainingTokens: 50000}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]int, 0, 8)
		names := p.Members()
		for pb.Next() {
			now := t0
			c, err := p.AppendCandidates(buf[:0], now, nil)
			if err != nil {
				b.Error(err)
				return
			}
			p.Observe(names[c[0]].Name, ok, now)
		}
	})
}
