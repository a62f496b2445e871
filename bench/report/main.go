// Command report turns the JSON lines written by bench/loadgen during
// bench/run.sh into the markdown tables of docs/benchmarks.md.
//
// Each loadgen run carries the tags upstream (echo, sim), target (direct,
// moat) and repeat (1, 2, …). For every upstream, mode (plain or stream)
// and concurrency, report pairs the direct and the via-moat run of the same
// repeat, computes moat's added latency at each percentile as the
// difference of the two, and prints the median over repeats of every
// figure. Pairing within a repeat matters on a shared machine: the two runs
// of a pair are seconds apart and see the same background load.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// run is the part of a loadgen result that report reads.
type run struct {
	Tags        map[string]string `json:"tags"`
	Concurrency int               `json:"concurrency"`
	Stream      bool              `json:"stream"`
	Requests    int               `json:"requests"`
	Errors      int               `json:"errors"`
	ErrorSample string            `json:"error_sample"`
	RPS         float64           `json:"rps"`
	Latency     summary           `json:"latency_us"`
	TTFB        *summary          `json:"ttfb_us"`
	Procs       map[string]proc   `json:"procs"`
	Log         *logUse           `json:"log"`
	Load1Start  float64           `json:"load1_start"`
	Load1End    float64           `json:"load1_end"`
}

type summary struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

type proc struct {
	CPUusPerReq float64 `json:"cpu_us_per_req"`
	CPUCores    float64 `json:"cpu_cores"`
	RSSkB       int64   `json:"rss_kb"`
	HWMkB       int64   `json:"hwm_kb"`
}

type logUse struct {
	Written uint64  `json:"written"`
	Dropped uint64  `json:"dropped"`
	LagMs   float64 `json:"lag_ms"`
}

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: report [results.jsonl …]   (stdin when no file is given)")
	}
	flag.Parse()
	runs, err := readAll(flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	if len(runs) == 0 {
		fmt.Fprintln(os.Stderr, "report: no results")
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	write(w, runs)
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func readAll(paths []string) ([]run, error) {
	if len(paths) == 0 {
		return decode(os.Stdin)
	}
	var all []run
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		rs, err := decode(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		all = append(all, rs...)
	}
	return all, nil
}

// decode reads a stream of JSON objects (one per loadgen run).
func decode(r io.Reader) ([]run, error) {
	dec := json.NewDecoder(r)
	var out []run
	for {
		var v run
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode result %d: %w", len(out)+1, err)
		}
		out = append(out, v)
	}
}
