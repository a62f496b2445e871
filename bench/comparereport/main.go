// Command comparereport turns bench/compare.sh's results.jsonl into the
// side-by-side tables of docs/benchmarks.md: per target and mode, the
// median over rounds of calls per second, CPU per call of the target's
// processes (all of them: nginx's master and workers), and memory. Beside
// the ratio of medians it gives the median (and range) of the ratios of
// runs in the same round: the bare proxy's CPU per call moves from round to
// round on a shared machine, and a target measured next to it moves with
// it.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
)

// result is the part of a bench/loadgen result this report reads.
type result struct {
	Tags     map[string]string `json:"tags"`
	Requests int               `json:"requests"`
	Errors   int               `json:"errors"`
	RPS      float64           `json:"rps"`
	Procs    map[string]struct {
		CPUusPerReq  float64 `json:"cpu_us_per_req"`
		RSSkB        int64   `json:"rss_kb"`
		ReadsPerReq  float64 `json:"read_syscalls_per_req"`
		WritesPerReq float64 `json:"write_syscalls_per_req"`
	} `json:"procs"`
}

// eventsPerStream is what bench/upstream sends per stream: 20 content
// events, the finish event, [DONE] (and the usage event when asked).
const eventsPerStream = 22

func main() {
	c := flag.Int("c", 64, "concurrency of the runs (open streams)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: comparereport [-c N] results.jsonl")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *c); err != nil {
		fmt.Fprintln(os.Stderr, "comparereport:", err)
		os.Exit(1)
	}
}

type cell struct {
	rps, cpu, rssKiB, perStreamKiB []float64
	reads, writes                  []float64          // syscalls per call
	byRound                        map[string]float64 // CPU per call by round
}

func run(path string, conc int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cells := map[string]*cell{}
	var order []string
	calls, errs := 0, 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return err
		}
		calls += r.Requests
		errs += r.Errors
		k := r.Tags["mode"] + "/" + r.Tags["target"]
		cl := cells[k]
		if cl == nil {
			cl = &cell{byRound: map[string]float64{}}
			cells[k] = cl
			order = append(order, k)
		}
		var cpu, reads, writes float64
		var rss int64
		for name, p := range r.Procs {
			if name == "upstream" || name == "loadgen" {
				continue
			}
			cpu += p.CPUusPerReq
			rss += p.RSSkB
			reads += p.ReadsPerReq
			writes += p.WritesPerReq
		}
		idle, _ := strconv.ParseFloat(r.Tags["idle_rss_kb"], 64)
		cl.rps = append(cl.rps, r.RPS)
		cl.cpu = append(cl.cpu, cpu)
		cl.byRound[r.Tags["round"]] = cpu
		cl.reads = append(cl.reads, reads)
		cl.writes = append(cl.writes, writes)
		cl.rssKiB = append(cl.rssKiB, float64(rss))
		cl.perStreamKiB = append(cl.perStreamKiB, (float64(rss)-idle)/float64(conc))
	}
	if err := sc.Err(); err != nil {
		return err
	}
	ref := func(mode, target string) float64 {
		if cl := cells[mode+"/"+target]; cl != nil {
			return median(cl.cpu)
		}
		return 0
	}
	ratio := func(a, b float64) string {
		if b == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", a/b)
	}
	// paired is the median and range over rounds of the target's CPU per
	// call over the bare proxy's in the same round.
	paired := func(mode string, cl *cell) string {
		pr := cells[mode+"/proxy"]
		if pr == nil {
			return "–"
		}
		var rs []float64
		for round, cpu := range cl.byRound {
			if p, ok := pr.byRound[round]; ok && p > 0 {
				rs = append(rs, cpu/p)
			}
		}
		if len(rs) == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f× (%.2f–%.2f)", median(rs), slices.Min(rs), slices.Max(rs))
	}
	fmt.Println("Plain chat completions:")
	fmt.Println()
	fmt.Println("| target | calls/s | CPU per call | ÷ bare proxy | ÷ bare proxy, same round | ÷ nginx | read/write syscalls per call | RSS at end |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, k := range order {
		mode, target := split(k)
		if mode != "plain" {
			continue
		}
		cl := cells[k]
		cpu := median(cl.cpu)
		fmt.Printf("| %s | %.0f | %.1f µs | %s | %s | %s | %.2f / %.2f | %.1f MiB |\n", target, median(cl.rps), cpu,
			ratio(cpu, ref("plain", "proxy")), paired("plain", cl), ratio(cpu, ref("plain", "nginx")),
			median(cl.reads), median(cl.writes), median(cl.rssKiB)/1024)
	}
	fmt.Println()
	fmt.Printf("Streamed chat completions (%d events each):\n\n", eventsPerStream)
	fmt.Println("| target | streams/s | CPU per stream | CPU per event | ÷ bare proxy | ÷ bare proxy, same round | ÷ nginx | KiB per open stream | RSS at end |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, k := range order {
		mode, target := split(k)
		if mode != "stream" {
			continue
		}
		cl := cells[k]
		cpu := median(cl.cpu)
		fmt.Printf("| %s | %.0f | %.1f µs | %.2f µs | %s | %s | %s | %.1f | %.1f MiB |\n", target, median(cl.rps), cpu,
			cpu/eventsPerStream, ratio(cpu, ref("stream", "proxy")), paired("stream", cl), ratio(cpu, ref("stream", "nginx")),
			median(cl.perStreamKiB), median(cl.rssKiB)/1024)
	}
	fmt.Printf("\n%d calls, %d errors.\n", calls, errs)
	return nil
}

func split(k string) (string, string) {
	for i := range len(k) {
		if k[i] == '/' {
			return k[:i], k[i+1:]
		}
	}
	return k, ""
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
