package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// cellKey names one table row: an upstream, a mode and a concurrency.
type cellKey struct {
	upstream string
	stream   bool
	c        int
}

// pair is the direct and the via-moat run of one repeat, and the run
// through the bare reverse proxy when bench/run.sh measured one.
type pair struct{ direct, moat, proxy *run }

// cell holds the complete pairs of one row, in repeat order.
type cell struct {
	key   cellKey
	pairs []pair
}

// group pairs runs by upstream, mode, concurrency and repeat. Incomplete
// pairs (a run that failed to produce output) are left out.
func group(runs []run) []cell {
	type slot struct {
		key    cellKey
		repeat string
	}
	slots := map[slot]*pair{}
	for i := range runs {
		r := &runs[i]
		s := slot{cellKey{r.Tags["upstream"], r.Stream, r.Concurrency}, r.Tags["repeat"]}
		p := slots[s]
		if p == nil {
			p = &pair{}
			slots[s] = p
		}
		switch r.Tags["target"] {
		case "direct":
			p.direct = r
		case "moat":
			p.moat = r
		case "proxy":
			p.proxy = r
		}
	}
	byKey := map[cellKey]*cell{}
	var repeats []string
	for s := range slots {
		repeats = append(repeats, s.repeat)
	}
	slices.SortFunc(repeats, func(a, b string) int { return cmp.Compare(atoi(a), atoi(b)) })
	repeats = slices.Compact(repeats)
	for _, rep := range repeats {
		for s, p := range slots {
			if s.repeat != rep || p.direct == nil || p.moat == nil {
				continue
			}
			c := byKey[s.key]
			if c == nil {
				c = &cell{key: s.key}
				byKey[s.key] = c
			}
			c.pairs = append(c.pairs, *p)
		}
	}
	cells := make([]cell, 0, len(byKey))
	for _, c := range byKey {
		cells = append(cells, *c)
	}
	slices.SortFunc(cells, func(a, b cell) int {
		return cmp.Or(cmp.Compare(upstreamOrder(a.key.upstream), upstreamOrder(b.key.upstream)),
			cmp.Compare(a.key.upstream, b.key.upstream), boolCmp(a.key.stream, b.key.stream), cmp.Compare(a.key.c, b.key.c))
	})
	return cells
}

// upstreamOrder puts the fixed-answer upstream, the headline, first.
func upstreamOrder(u string) int {
	if u == "echo" {
		return 0
	}
	return 1
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// med is the median over a cell's pairs of f.
func (c cell) med(f func(p pair) float64) float64 {
	v := make([]float64, 0, len(c.pairs))
	for _, p := range c.pairs {
		v = append(v, f(p))
	}
	return median(v)
}

// median of v; the mean of the two middle values when len(v) is even.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

var upstreamTitle = map[string]string{
	"echo": "fixed-answer upstream (bench/upstream)",
	"sim":  "`moat simulator` upstream (zero latency)",
}

func title(c cellKey) string {
	t := upstreamTitle[c.upstream]
	if t == "" {
		t = c.upstream + " upstream"
	}
	if c.stream {
		return "Streaming chat completions, " + t
	}
	return "Chat completions, " + t
}

// write prints every table, then the run facts and the targets.
func write(w io.Writer, runs []run) {
	cells := group(runs)
	for i := 0; i < len(cells); {
		j := i
		for j < len(cells) && cells[j].key.upstream == cells[i].key.upstream && cells[j].key.stream == cells[i].key.stream {
			j++
		}
		fmt.Fprintf(w, "#### %s\n\n", title(cells[i].key))
		if cells[i].key.stream {
			streamTable(w, cells[i:j])
		} else {
			plainTable(w, cells[i:j])
		}
		fmt.Fprintln(w)
		i = j
	}
	proxyTable(w, cells)
	cpuTable(w, cells)
	facts(w, runs, cells)
	targets(w, cells)
}

// proxyTable compares moat with a bare httputil.ReverseProxy on the rows
// where one was measured: the proxy's overhead is what any Go reverse proxy
// costs on the machine, moat's excess over it is what moat's stages cost.
func proxyTable(w io.Writer, cells []cell) {
	var rows []cell
	for _, c := range cells {
		var with []pair
		for _, p := range c.pairs {
			if p.proxy != nil {
				with = append(with, p)
			}
		}
		if len(with) > 0 {
			rows = append(rows, cell{key: c.key, pairs: with})
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "#### Reference: a bare `httputil.ReverseProxy` (bench/proxy)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| call | concurrency | bare proxy ÷ direct req/s | moat ÷ direct req/s | bare proxy added p50 | moat added p50 | bare proxy added p99 | moat added p99 | bare proxy CPU per call | moat CPU per call |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, c := range rows {
		kind := "plain"
		if c.key.stream {
			kind = "stream"
		}
		fmt.Fprintf(w, "| %s, %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			c.key.upstream, kind, c.key.c,
			pct(c.med(func(p pair) float64 { return p.proxy.RPS / p.direct.RPS })),
			pct(c.med(func(p pair) float64 { return p.moat.RPS / p.direct.RPS })),
			added(c.med(func(p pair) float64 { return p.proxy.Latency.P50 - p.direct.Latency.P50 })),
			added(c.med(func(p pair) float64 { return p.moat.Latency.P50 - p.direct.Latency.P50 })),
			added(c.med(func(p pair) float64 { return p.proxy.Latency.P99 - p.direct.Latency.P99 })),
			added(c.med(func(p pair) float64 { return p.moat.Latency.P99 - p.direct.Latency.P99 })),
			dur(c.med(func(p pair) float64 { return p.proxy.Procs["proxy"].CPUusPerReq })),
			dur(c.med(func(p pair) float64 { return moatProc(p).CPUusPerReq })))
	}
	fmt.Fprintln(w)
}

// cpuTable shows where each call's CPU time goes. When every process
// shares the same cores and they are saturated, throughput is inversely
// proportional to the CPU a call costs across all processes, so the ratio
// (loadgen + upstream) / (loadgen + upstream + moat) predicts the via-moat
// to direct throughput ratio from CPU costs alone.
func cpuTable(w io.Writer, cells []cell) {
	fmt.Fprintln(w, "#### CPU time per call")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| call | concurrency | direct: loadgen | direct: upstream | via moat: loadgen | via moat: upstream | via moat: **moat** | CPU-bound ratio | measured ratio |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, c := range cells {
		cpu := func(r func(p pair) *run, name string) float64 {
			return c.med(func(p pair) float64 { return r(p).Procs[name].CPUusPerReq })
		}
		direct := func(p pair) *run { return p.direct }
		moat := func(p pair) *run { return p.moat }
		kind := "plain"
		if c.key.stream {
			kind = "stream"
		}
		fmt.Fprintf(w, "| %s, %s | %d | %s | %s | %s | %s | **%s** | %s | %s |\n",
			c.key.upstream, kind, c.key.c,
			dur(cpu(direct, "loadgen")), dur(cpu(direct, "upstream")),
			dur(cpu(moat, "loadgen")), dur(cpu(moat, "upstream")), dur(cpu(moat, "moat")),
			pct(c.med(func(p pair) float64 {
				d := p.direct.Procs["loadgen"].CPUusPerReq + p.direct.Procs["upstream"].CPUusPerReq
				return d / (p.moat.Procs["loadgen"].CPUusPerReq + p.moat.Procs["upstream"].CPUusPerReq + p.moat.Procs["moat"].CPUusPerReq)
			})),
			pct(c.med(func(p pair) float64 { return p.moat.RPS / p.direct.RPS })))
	}
	fmt.Fprintln(w)
}

func moatProc(p pair) proc { return p.moat.Procs["moat"] }

func plainTable(w io.Writer, cells []cell) {
	fmt.Fprintln(w, "| concurrency | direct req/s | via moat req/s | moat ÷ direct | p50 direct | p50 via moat | **added p50** | p99 direct | p99 via moat | **added p99** | moat CPU per call | moat cores busy | moat RSS |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, c := range cells {
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | **%s** | %s | %s | **%s** | %s | %s | %s |\n",
			c.key.c,
			rps(c.med(func(p pair) float64 { return p.direct.RPS })),
			rps(c.med(func(p pair) float64 { return p.moat.RPS })),
			pct(c.med(func(p pair) float64 { return p.moat.RPS / p.direct.RPS })),
			dur(c.med(func(p pair) float64 { return p.direct.Latency.P50 })),
			dur(c.med(func(p pair) float64 { return p.moat.Latency.P50 })),
			added(c.med(func(p pair) float64 { return p.moat.Latency.P50 - p.direct.Latency.P50 })),
			dur(c.med(func(p pair) float64 { return p.direct.Latency.P99 })),
			dur(c.med(func(p pair) float64 { return p.moat.Latency.P99 })),
			added(c.med(func(p pair) float64 { return p.moat.Latency.P99 - p.direct.Latency.P99 })),
			dur(c.med(func(p pair) float64 { return moatProc(p).CPUusPerReq })),
			fmt.Sprintf("%.2f", c.med(func(p pair) float64 { return moatProc(p).CPUCores })),
			mib(c.med(func(p pair) float64 { return float64(moatProc(p).RSSkB) })))
	}
}

func ttfb(r *run) summary {
	if r.TTFB == nil {
		return summary{}
	}
	return *r.TTFB
}

func streamTable(w io.Writer, cells []cell) {
	fmt.Fprintln(w, "| concurrency | first byte p50 direct | first byte p50 via moat | **added** | first byte p99 direct | first byte p99 via moat | **added** | whole stream p50 direct | whole stream p50 via moat | **added** | moat ÷ direct req/s | moat CPU per call |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, c := range cells {
		fmt.Fprintf(w, "| %d | %s | %s | **%s** | %s | %s | **%s** | %s | %s | **%s** | %s | %s |\n",
			c.key.c,
			dur(c.med(func(p pair) float64 { return ttfb(p.direct).P50 })),
			dur(c.med(func(p pair) float64 { return ttfb(p.moat).P50 })),
			added(c.med(func(p pair) float64 { return ttfb(p.moat).P50 - ttfb(p.direct).P50 })),
			dur(c.med(func(p pair) float64 { return ttfb(p.direct).P99 })),
			dur(c.med(func(p pair) float64 { return ttfb(p.moat).P99 })),
			added(c.med(func(p pair) float64 { return ttfb(p.moat).P99 - ttfb(p.direct).P99 })),
			dur(c.med(func(p pair) float64 { return p.direct.Latency.P50 })),
			dur(c.med(func(p pair) float64 { return p.moat.Latency.P50 })),
			added(c.med(func(p pair) float64 { return p.moat.Latency.P50 - p.direct.Latency.P50 })),
			pct(c.med(func(p pair) float64 { return p.moat.RPS / p.direct.RPS })),
			dur(c.med(func(p pair) float64 { return moatProc(p).CPUusPerReq })))
	}
}

// facts prints what a reader needs to judge the numbers: how many
// repeats, errors, what the request log did, the machine's load.
func facts(w io.Writer, runs []run, cells []cell) {
	var errs, calls int
	var written, dropped uint64
	var lags, loads []float64
	var hwm int64
	sample := ""
	for _, r := range runs {
		errs += r.Errors
		calls += r.Requests + r.Errors
		if sample == "" {
			sample = r.ErrorSample
		}
		if r.Log != nil {
			written += r.Log.Written
			dropped += r.Log.Dropped
			lags = append(lags, r.Log.LagMs)
		}
		loads = append(loads, r.Load1Start, r.Load1End)
		if m, ok := r.Procs["moat"]; ok {
			hwm = max(hwm, m.HWMkB)
		}
	}
	minPairs := 0
	for i, c := range cells {
		if i == 0 || len(c.pairs) < minPairs {
			minPairs = len(c.pairs)
		}
	}
	fmt.Fprintln(w, "Run facts:")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- %d loadgen runs, %d paired repeats per row at least; figures are medians over repeats, added latency is the median of the per-repeat differences.\n", len(runs), minPairs)
	fmt.Fprintf(w, "- %d calls, %d errors", calls, errs)
	if sample != "" {
		fmt.Fprintf(w, " (first: `%.120s`)", sample)
	}
	fmt.Fprintln(w, ".")
	if len(lags) > 0 {
		fmt.Fprintf(w, "- Request log (SQLite): %d records written, %d dropped; after a run the log held every record within %s (median), %s (max).\n",
			written, dropped, msec(median(lags)), msec(slices.Max(lags)))
	}
	if hwm > 0 {
		fmt.Fprintf(w, "- moat peak resident memory (VmHWM): %s.\n", mib(float64(hwm)))
	}
	if len(loads) > 0 {
		fmt.Fprintf(w, "- One-minute load average during the runs: min %.2f, median %.2f, max %.2f.\n",
			slices.Min(loads), median(loads), slices.Max(loads))
	}
	fmt.Fprintln(w)
}

// targets checks the acceptance criteria on the headline upstream.
func targets(w io.Writer, cells []cell) {
	var c1, cMax *cell
	for i := range cells {
		c := &cells[i]
		if c.key.stream || c.key.upstream != cells[0].key.upstream {
			continue
		}
		if c.key.c == 1 {
			c1 = c
		}
		if cMax == nil || c.key.c > cMax.key.c {
			cMax = c
		}
	}
	fmt.Fprintf(w, "Targets (%s):\n\n", upstreamTitle[cells[0].key.upstream])
	if c1 != nil {
		a := c1.med(func(p pair) float64 { return p.moat.Latency.P50 - p.direct.Latency.P50 })
		fmt.Fprintf(w, "- Added p50 at concurrency 1: %s (target < 100 µs): **%s**.\n", added(a), verdict(a < 100))
	}
	if cMax != nil {
		r := cMax.med(func(p pair) float64 { return p.moat.RPS / p.direct.RPS })
		fmt.Fprintf(w, "- Throughput at concurrency %d: %s of direct (target ≥ 60%%): **%s**.\n", cMax.key.c, pct(r), verdict(r >= 0.6))
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// dur formats microseconds.
func dur(us float64) string {
	switch {
	case math.IsNaN(us):
		return "–"
	case math.Abs(us) < 10:
		return fmt.Sprintf("%.1f µs", us)
	case math.Abs(us) < 1000:
		return fmt.Sprintf("%.0f µs", us)
	default:
		return fmt.Sprintf("%.2f ms", us/1000)
	}
}

// added formats a latency difference with its sign.
func added(us float64) string {
	if us < 0 {
		return "−" + dur(-us)
	}
	return "+" + dur(us)
}

func rps(v float64) string { return fmt.Sprintf("%.0f", v) }
func pct(v float64) string { return fmt.Sprintf("%.0f%%", v*100) }
func mib(kb float64) string {
	return fmt.Sprintf("%.1f MiB", kb/1024)
}
func msec(ms float64) string { return fmt.Sprintf("%.0f ms", ms) }
