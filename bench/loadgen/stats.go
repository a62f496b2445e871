package main

import (
	"slices"
	"time"
)

// Summary describes a latency distribution in microseconds.
type Summary struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// summarize sorts d in place and reads its percentiles by the nearest-rank
// method: pXX is the smallest sample with at least XX% of samples at or
// below it. Every sample is kept, so there is no histogram rounding.
func summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return Summary{
		N:    len(d),
		Min:  us(d[0]),
		Mean: us(sum) / float64(len(d)),
		P50:  us(rank(d, 5000)),
		P90:  us(rank(d, 9000)),
		P99:  us(rank(d, 9900)),
		P999: us(rank(d, 9990)),
		Max:  us(d[len(d)-1]),
	}
}

// rank is the nearest-rank percentile of sorted, with p in basis points
// (9900 is p99): the sample at 1-based index ceil(n*p/10000). Integer
// arithmetic keeps 100 samples' p99 at index 99, not 100.
func rank(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+9999)/10000 - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
