package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Microsecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      int
		want   time.Duration
	}{
		{name: "p50 of 100", sorted: hundred, p: 5000, want: 50 * time.Microsecond},
		{name: "p99 of 100", sorted: hundred, p: 9900, want: 99 * time.Microsecond},
		{name: "p99.9 of 100", sorted: hundred, p: 9990, want: 100 * time.Microsecond},
		{name: "p50 of 1", sorted: hundred[:1], p: 5000, want: time.Microsecond},
		{name: "p50 of 3", sorted: hundred[:3], p: 5000, want: 2 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rank(tt.sorted, tt.p); got != tt.want {
				t.Errorf("rank = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	got := summarize([]time.Duration{3 * time.Microsecond, time.Microsecond, 2 * time.Microsecond})
	want := Summary{N: 3, Min: 1, Mean: 2, P50: 2, P90: 3, P99: 3, P999: 3, Max: 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summarize (-want +got):\n%s", diff)
	}
}

func TestKeepTail(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   string
	}{
		{name: "short", chunks: []string{"ab", "cd"}, want: "abcd"},
		{name: "long chunk", chunks: []string{strings.Repeat("x", 40) + "data: [DONE]\n\n"}, want: strings.Repeat("x", 18) + "data: [DONE]\n\n"},
		{name: "split marker", chunks: []string{strings.Repeat("y", 30), "data: [DO", "NE]\n\n"}, want: strings.Repeat("y", 18) + "data: [DONE]\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tail [32]byte
			n := 0
			for _, c := range tt.chunks {
				n = keepTail(&tail, n, []byte(c))
			}
			if got := string(tail[:n]); got != tt.want {
				t.Errorf("tail = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    float64
		wantErr bool
	}{
		{name: "plain", line: "123 (moat) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 12 0", want: 3000},
		{name: "spaces and parens in name", line: "123 (a) b) c) R 1 2 3 4 5 6 7 8 9 10 1 2 0", want: 30},
		{name: "short", line: "123 (moat) S 1 2", wantErr: true},
		{name: "no name", line: "garbage", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.line))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStat = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseMetrics(t *testing.T) {
	in := "# HELP moat_log_queue_length x\n# TYPE moat_log_queue_length gauge\nmoat_log_queue_length 3\n" +
		"moat_log_records_written_total 1.2e+06\nmoat_requests_total{status=\"200\"} 9\nbroken\n"
	got, err := parseMetrics(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"moat_log_queue_length": 3, "moat_log_records_written_total": 1.2e6}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseMetrics (-want +got):\n%s", diff)
	}
}

func TestParsePairs(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{name: "empty", in: "", want: map[string]string{}},
		{name: "two", in: "a=1, b = 2", want: map[string]string{"a": "1", "b": "2"}},
		{name: "no value", in: "a", wantErr: true},
		{name: "no key", in: "=1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePairs(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); !tt.wantErr && diff != "" {
				t.Errorf("parsePairs (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParsers feeds arbitrary text to the /proc and metrics parsers: they
// must not panic.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{"1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12", "a 1\n# c\nb{x=\"1\"} 2", ")", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseStat([]byte(s))
		_, _ = parseMetrics(strings.NewReader(s))
		_, _ = parsePairs(s)
	})
}
