package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports; reading it properly
// needs sysconf(_SC_CLK_TCK), which needs cgo. At 100 Hz a 10 s run has
// 10 ms resolution, under 0.1% of the CPU time of the runs measured here.
const clockTicks = 100

// ProcUse is one watched process's resource use over the measured window.
type ProcUse struct {
	PID int `json:"pid"`
	// CPUms is user plus system CPU time spent in the window.
	CPUms float64 `json:"cpu_ms"`
	// CPUusPerReq is CPUms divided by the calls made in the window.
	CPUusPerReq float64 `json:"cpu_us_per_req"`
	// CPUCores is CPUms over the window's wall time: cores kept busy.
	CPUCores float64 `json:"cpu_cores"`
	// RSSkB is VmRSS at the end of the window.
	RSSkB int64 `json:"rss_kb"`
	// HWMkB is VmHWM, the process's peak resident set since it started.
	HWMkB int64 `json:"hwm_kb"`
	// ReadsPerReq and WritesPerReq are the read and write system calls
	// (syscr and syscw of /proc/<pid>/io, all threads) in the window per
	// call; 0 where /proc/<pid>/io cannot be read.
	ReadsPerReq  float64 `json:"read_syscalls_per_req"`
	WritesPerReq float64 `json:"write_syscalls_per_req"`
}

// procWatch reads CPU time of several processes at the window's edges.
type procWatch struct {
	pids   map[string]int
	before map[string]float64 // CPU ms at start
	after  map[string]float64
	// read and write syscalls at start and end
	ioBefore, ioAfter map[string][2]int64
	t0, t1            time.Time
}

// newProcWatch watches the named pids and loadgen itself, whose CPU per
// call is part of the budget that direct and via-moat runs share.
func newProcWatch(names map[string]string) (*procWatch, error) {
	w := &procWatch{pids: map[string]int{"loadgen": os.Getpid()}, before: map[string]float64{}, after: map[string]float64{},
		ioBefore: map[string][2]int64{}, ioAfter: map[string][2]int64{}}
	for name, v := range names {
		pid, err := strconv.Atoi(v)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("watch %s: %q is not a pid", name, v)
		}
		w.pids[name] = pid
	}
	return w, nil
}

func (w *procWatch) start() error {
	w.t0 = time.Now()
	return w.read(w.before, w.ioBefore)
}

func (w *procWatch) stop() error {
	w.t1 = time.Now()
	return w.read(w.after, w.ioAfter)
}

func (w *procWatch) read(into map[string]float64, io map[string][2]int64) error {
	for name, pid := range w.pids {
		ms, err := cpuMillis(pid)
		if err != nil {
			return fmt.Errorf("watch %s: %w", name, err)
		}
		into[name] = ms
		if rw, err := syscalls(pid); err == nil {
			io[name] = rw
		}
	}
	return nil
}

// syscalls reads syscr and syscw from /proc/<pid>/io.
func syscalls(pid int) ([2]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return [2]int64{}, err
	}
	var rw [2]int64
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "syscr":
			rw[0] = n
		case "syscw":
			rw[1] = n
		}
	}
	return rw, nil
}

// usage reports each process's use over the window, per call for calls.
func (w *procWatch) usage(calls int) map[string]ProcUse {
	out := map[string]ProcUse{}
	wall := w.t1.Sub(w.t0).Seconds() * 1000
	for name, pid := range w.pids {
		u := ProcUse{PID: pid, CPUms: w.after[name] - w.before[name]}
		if calls > 0 {
			u.CPUusPerReq = u.CPUms * 1000 / float64(calls)
		}
		if wall > 0 {
			u.CPUCores = u.CPUms / wall
		}
		u.RSSkB, u.HWMkB, _ = memKB(pid)
		b, okb := w.ioBefore[name]
		a, oka := w.ioAfter[name]
		if okb && oka && calls > 0 {
			u.ReadsPerReq = float64(a[0]-b[0]) / float64(calls)
			u.WritesPerReq = float64(a[1]-b[1]) / float64(calls)
		}
		out[name] = u
	}
	return out
}

// cpuMillis reads utime+stime of pid, all threads, in milliseconds.
func cpuMillis(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(b)
}

// parseStat reads utime and stime (fields 14 and 15) from a /proc/<pid>/stat
// line. The command name (field 2) may hold spaces and parentheses, so
// fields are counted from the last ')'.
func parseStat(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat line")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field k is f[k-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("short stat line")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed utime/stime")
	}
	return float64(ut+st) * 1000 / clockTicks, nil
}

// memKB reads VmRSS and VmHWM of pid in kB.
func memKB(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm, sc.Err()
}

// loadAvg is the one-minute load average, or -1 where it cannot be read.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// LogUse is what moat's request log did with the window's records.
type LogUse struct {
	Written uint64 `json:"written"`
	Dropped uint64 `json:"dropped"`
	// LagMs is how long after the last call the log took to hold (or drop)
	// every record of the window.
	LagMs float64 `json:"lag_ms"`
}

// logCounters are moat's request-log metrics at one moment.
type logCounters struct {
	written, dropped uint64
	queue            float64
}

func (c logCounters) done() uint64 { return c.written + c.dropped }

// waitLogSettled waits until the request log is idle and stays so for
// longer than moat's flush interval, so that a batch being written when the
// queue looked empty is not counted in the next window.
func waitLogSettled(ctx context.Context, url string) (logCounters, error) {
	prev, err := waitLogIdle(ctx, url, 0, 10*time.Second)
	for i := 0; err == nil && i < 50; i++ {
		time.Sleep(300 * time.Millisecond)
		var c logCounters
		c, err = waitLogIdle(ctx, url, 0, 10*time.Second)
		if err == nil && c.done() == prev.done() {
			return c, nil
		}
		prev = c
	}
	if err != nil {
		return prev, err
	}
	return prev, fmt.Errorf("request log never settled")
}

// waitLogIdle polls moat's metrics until the log queue is empty and at
// least want records are written or dropped, and returns the counters then.
func waitLogIdle(ctx context.Context, url string, want uint64, limit time.Duration) (logCounters, error) {
	deadline := time.Now().Add(limit)
	for {
		c, err := scrapeLog(ctx, url)
		if err != nil {
			return c, err
		}
		if c.queue == 0 && c.done() >= want {
			return c, nil
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("request log did not catch up within %s: %d of %d records, queue %v",
				limit, c.done(), want, c.queue)
		}
		select {
		case <-ctx.Done():
			return c, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func scrapeLog(ctx context.Context, url string) (logCounters, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return logCounters{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return logCounters{}, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return logCounters{}, fmt.Errorf("scrape metrics: status %d", resp.StatusCode)
	}
	m, err := parseMetrics(resp.Body)
	if err != nil {
		return logCounters{}, err
	}
	q, ok := m["moat_log_queue_length"]
	if !ok {
		return logCounters{}, fmt.Errorf("scrape metrics: no moat_log_queue_length series")
	}
	return logCounters{written: uint64(m["moat_log_records_written_total"]),
		dropped: uint64(m["moat_log_records_dropped_total"]), queue: q}, nil
}

// parseMetrics reads the unlabelled series of a Prometheus text exposition.
// Labelled series and comments are skipped: the log counters have no labels.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		out[f[0]] = v
	}
	return out, sc.Err()
}
