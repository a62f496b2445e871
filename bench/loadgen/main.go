// Command loadgen is moat's closed-loop load generator: N workers, each
// with a kept-alive connection, send the same small chat completion one
// after another for a fixed time (or request count) and record every
// call's latency. It prints one JSON object, which bench/report turns into
// the tables of docs/benchmarks.md.
//
// Closed loop means a worker sends its next call only when the previous one
// has finished, so concurrency is fixed and throughput is what the system
// under test can sustain at that concurrency. With -watch it also reads the
// CPU time and memory of other processes (moat, the upstream) over exactly
// the measured window, and with -metrics it waits for moat's request log to
// catch up and reports how many records were written or dropped.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moat-gw/moat/bench/fixture"
)

func main() {
	o := options{}
	flag.StringVar(&o.url, "url", "", "chat completions URL to call (required)")
	flag.IntVar(&o.concurrency, "c", 1, "concurrent workers (each keeps one connection)")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "measured duration")
	flag.IntVar(&o.requests, "n", 0, "stop after this many measured calls (0: only -d bounds the run)")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before the measured window")
	flag.BoolVar(&o.stream, "stream", false, "ask for a stream and measure time to first byte as well")
	flag.StringVar(&o.key, "key", "bench", "value of the api-key header")
	flag.StringVar(&o.keysFile, "keys", "", "file of api keys, one a line: calls rotate through them (overrides -key)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-call timeout")
	flag.StringVar(&o.watch, "watch", "", "processes to measure besides loadgen itself, as name=pid[,name=pid…] (Linux /proc)")
	flag.StringVar(&o.metrics, "metrics", "", "moat /metrics URL: wait for the request log and report written/dropped records")
	flag.StringVar(&o.tags, "tags", "", "labels copied into the output, as k=v[,k=v…]")
	flag.Parse()
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		flag.Usage()
		os.Exit(2)
	}
	res, err := run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	url         string
	concurrency int
	duration    time.Duration
	requests    int
	warmup      time.Duration
	stream      bool
	key         string
	keysFile    string
	timeout     time.Duration
	watch       string
	metrics     string
	tags        string
}

func (o options) check() error {
	var errs []error
	if o.url == "" {
		errs = append(errs, errors.New("-url is required"))
	}
	if o.concurrency < 1 {
		errs = append(errs, errors.New("-c must be at least 1"))
	}
	if o.duration <= 0 {
		errs = append(errs, errors.New("-d must be positive: every run is bounded in time"))
	}
	if o.requests < 0 {
		errs = append(errs, errors.New("-n must not be negative"))
	}
	if _, err := parsePairs(o.watch); err != nil {
		errs = append(errs, fmt.Errorf("-watch: %w", err))
	}
	if _, err := parsePairs(o.tags); err != nil {
		errs = append(errs, fmt.Errorf("-tags: %w", err))
	}
	return errors.Join(errs...)
}

// Result is the JSON that loadgen prints.
type Result struct {
	Tags        map[string]string  `json:"tags,omitempty"`
	URL         string             `json:"url"`
	Concurrency int                `json:"concurrency"`
	Stream      bool               `json:"stream"`
	Seconds     float64            `json:"seconds"`
	Requests    int                `json:"requests"`
	Errors      int                `json:"errors"`
	ErrorSample string             `json:"error_sample,omitempty"`
	Status      map[string]int     `json:"status"`
	RPS         float64            `json:"rps"`
	Latency     Summary            `json:"latency_us"`
	TTFB        *Summary           `json:"ttfb_us,omitempty"`
	Procs       map[string]ProcUse `json:"procs,omitempty"`
	Log         *LogUse            `json:"log,omitempty"`
	Load1Start  float64            `json:"load1_start"`
	Load1End    float64            `json:"load1_end"`
}

func run(ctx context.Context, o options) (*Result, error) {
	body := fixture.ChatRequest
	if o.stream {
		body = fixture.StreamRequest
	}
	c := newCaller(o.url, o.key, []byte(body), o.concurrency, o.timeout, o.stream)
	if o.keysFile != "" {
		b, err := os.ReadFile(o.keysFile)
		if err != nil {
			return nil, err
		}
		c.keys = strings.Fields(string(b))
	}
	defer c.close()

	if o.warmup > 0 {
		c.load(ctx, o.concurrency, o.warmup, 0)
	}
	watch, _ := parsePairs(o.watch)
	procs, err := newProcWatch(watch)
	if err != nil {
		return nil, err
	}
	var logStart logCounters
	if o.metrics != "" {
		// Start from a drained queue so the warm-up's records are not counted.
		logStart, err = waitLogSettled(ctx, o.metrics)
		if err != nil {
			return nil, err
		}
	}
	load1Start := loadAvg()
	if err := procs.start(); err != nil {
		return nil, err
	}
	start := time.Now()
	samples := c.load(ctx, o.concurrency, o.duration, o.requests)
	elapsed := time.Since(start)
	if err := procs.stop(); err != nil {
		return nil, err
	}

	res := &Result{URL: o.url, Concurrency: o.concurrency, Stream: o.stream, Seconds: elapsed.Seconds(),
		Status: map[string]int{}, Load1Start: load1Start, Load1End: loadAvg()}
	res.Tags, _ = parsePairs(o.tags)
	var lat, ttfb []time.Duration
	for _, s := range samples {
		res.Status[strconv.Itoa(s.status)]++
		if s.err != "" {
			res.Errors++
			if res.ErrorSample == "" {
				res.ErrorSample = s.err
			}
			continue
		}
		lat = append(lat, s.total)
		ttfb = append(ttfb, s.ttfb)
	}
	res.Requests = len(lat)
	res.RPS = float64(res.Requests) / elapsed.Seconds()
	res.Latency = summarize(lat)
	if o.stream {
		t := summarize(ttfb)
		res.TTFB = &t
	}
	res.Procs = procs.usage(len(samples))
	if o.metrics != "" {
		drainStart := time.Now()
		end, err := waitLogIdle(ctx, o.metrics, logStart.done()+uint64(len(samples)), 30*time.Second)
		if err != nil {
			return nil, err
		}
		res.Log = &LogUse{Written: end.written - logStart.written, Dropped: end.dropped - logStart.dropped,
			LagMs: float64(time.Since(drainStart).Microseconds()) / 1000}
	}
	return res, nil
}

// parsePairs parses "k=v,k=v" into a map; an empty string is an empty map.
func parsePairs(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}
