package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{name: "odd", in: []float64{3, 1, 2}, want: 2},
		{name: "even", in: []float64{4, 1, 3, 2}, want: 2.5},
		{name: "one", in: []float64{7}, want: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.in); got != tt.want {
				t.Errorf("median = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "small", got: dur(4.25), want: "4.2 µs"},
		{name: "micro", got: dur(83.4), want: "83 µs"},
		{name: "milli", got: dur(1234), want: "1.23 ms"},
		{name: "added positive", got: added(83.4), want: "+83 µs"},
		{name: "added negative", got: added(-5), want: "−5.0 µs"},
		{name: "percent", got: pct(0.614), want: "61%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// results is three repeats of one row plus an unpaired run, as loadgen
// prints them.
const results = `
{"tags":{"upstream":"echo","target":"direct","repeat":"1"},"concurrency":1,"requests":100,"rps":1000,"latency_us":{"p50":100,"p99":200},"procs":{"loadgen":{"cpu_us_per_req":50},"upstream":{"cpu_us_per_req":50}}}
{"tags":{"upstream":"echo","target":"moat","repeat":"1"},"concurrency":1,"requests":100,"rps":700,"latency_us":{"p50":150,"p99":400},"procs":{"loadgen":{"cpu_us_per_req":50},"upstream":{"cpu_us_per_req":50},"moat":{"cpu_us_per_req":100,"rss_kb":2048,"hwm_kb":4096}},"log":{"written":100}}
{"tags":{"upstream":"echo","target":"moat","repeat":"2"},"concurrency":1,"requests":100,"rps":600,"latency_us":{"p50":300,"p99":500},"procs":{"moat":{"cpu_us_per_req":100}},"log":{"written":100}}
{"tags":{"upstream":"echo","target":"direct","repeat":"2"},"concurrency":1,"requests":100,"rps":1000,"latency_us":{"p50":200,"p99":300},"procs":{}}
{"tags":{"upstream":"echo","target":"direct","repeat":"3"},"concurrency":1,"requests":100,"rps":1000,"latency_us":{"p50":100,"p99":200},"procs":{}}
{"tags":{"upstream":"echo","target":"moat","repeat":"3"},"concurrency":1,"requests":100,"rps":800,"latency_us":{"p50":110,"p99":200},"procs":{"moat":{"cpu_us_per_req":100}},"log":{"written":100}}
{"tags":{"upstream":"echo","target":"proxy","repeat":"1"},"concurrency":1,"requests":100,"rps":900,"latency_us":{"p50":120,"p99":250},"procs":{"proxy":{"cpu_us_per_req":40}}}
{"tags":{"upstream":"echo","target":"direct","repeat":"4"},"concurrency":1,"requests":100,"rps":1,"latency_us":{"p50":1,"p99":1},"procs":{}}
`

func TestGroupPairsByRepeat(t *testing.T) {
	runs, err := decode(strings.NewReader(results))
	if err != nil {
		t.Fatal(err)
	}
	cells := group(runs)
	if len(cells) != 1 {
		t.Fatalf("%d cells, want 1", len(cells))
	}
	c := cells[0]
	var got []float64
	for _, p := range c.pairs {
		got = append(got, p.moat.Latency.P50-p.direct.Latency.P50)
	}
	// Repeat 4 has no moat run and is left out; pairs stay in repeat order.
	if diff := cmp.Diff([]float64{50, 100, 10}, got); diff != "" {
		t.Errorf("added p50 per repeat (-want +got):\n%s", diff)
	}
	if m := c.med(func(p pair) float64 { return p.moat.Latency.P50 - p.direct.Latency.P50 }); m != 50 {
		t.Errorf("median added p50 = %v, want 50", m)
	}
}

func TestWrite(t *testing.T) {
	runs, err := decode(strings.NewReader(results))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	write(&buf, runs)
	out := buf.String()
	for _, want := range []string{
		"| 1 | 1000 | 700 | 70% | 100 µs | 150 µs | **+50 µs** |",
		"Added p50 at concurrency 1: +50 µs (target < 100 µs): **met**.",
		"Throughput at concurrency 1: 70% of direct (target ≥ 60%): **met**.",
		"300 records written, 0 dropped",
		"| echo, plain | 1 | 90% | 70% | +20 µs | +50 µs | +50 µs | +200 µs | 40 µs | 100 µs |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
