package inproc

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-gw/moat/bench/fixture"
)

var heapDir = flag.String("streammem.heap", "", "BenchmarkStreamMemory: write a heap profile per target, taken while its streams are held, into this directory")

// heldEvents is how many events a held stream passes before its upstream
// stops: past the first event, before the end, as in the middle of a long
// answer.
const heldEvents = 3

// holdingUpstream is the fixed-answer upstream whose streams stop after
// heldEvents events until release is called.
type holdingUpstream struct {
	url string
	mu  sync.Mutex
	ch  chan struct{}
}

func startHoldingUpstream(tb testing.TB) *holdingUpstream {
	u := &holdingUpstream{ch: make(chan struct{})}
	srv := httptest.NewServer(fixture.NewHoldingHandler(20, heldEvents, u.current))
	tb.Cleanup(srv.Close)
	u.url = srv.URL
	return u
}

func (u *holdingUpstream) current() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ch
}

// release lets the held streams finish; later streams are held again.
func (u *holdingUpstream) release() {
	u.mu.Lock()
	defer u.mu.Unlock()
	close(u.ch)
	u.ch = make(chan struct{})
}

// openMemory is what the process holds while n streams are open.
type openMemory struct{ heap, stack float64 }

// holdStreams opens n streams to url, waits until each has passed
// heldEvents events to its client and is waiting on the upstream, and
// returns the live heap (after a full collection) and the goroutine stacks
// held per stream, over what the process held before. It then lets the
// streams finish.
func holdStreams(tb testing.TB, up *holdingUpstream, url string, n int, profile string) openMemory {
	c := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: n, DisableCompression: true}}
	defer c.CloseIdleConnections()
	before := settledMemStats()
	var ready, done sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		ready.Add(1)
		done.Go(func() {
			signaled := false
			signal := func() {
				if !signaled {
					signaled = true
					ready.Done()
				}
			}
			defer signal()
			if err := holdOne(c, url, signal); err != nil {
				errs <- err
			}
		})
	}
	ready.Wait()
	time.Sleep(50 * time.Millisecond) // every stream is blocked on its upstream read by now
	after := settledMemStats()
	if profile != "" {
		writeHeapProfile(tb, profile)
	}
	up.release()
	done.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return openMemory{
		heap:  float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n),
		stack: float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(n),
	}
}

// holdOne runs one streamed call, calling held once heldEvents events have
// arrived, and reads it to the end.
func holdOne(c *http.Client, url string, held func()) error {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(fixture.StreamRequest))
	if err != nil {
		return err
	}
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["Api-Key"] = []string{clientKey}
	resp, err := c.Do(req)
	if err != nil {
		held()
		return err
	}
	defer resp.Body.Close()
	buf := make([]byte, 4<<10)
	events := 0
	var all bytes.Buffer
	for {
		k, err := resp.Body.Read(buf)
		all.Write(buf[:k])
		events += bytes.Count(buf[:k], []byte("\n\n"))
		if events >= heldEvents {
			held()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			held()
			return err
		}
	}
	if resp.StatusCode != http.StatusOK || !bytes.HasSuffix(all.Bytes(), []byte("data: [DONE]\n\n")) {
		return fmt.Errorf("status %d, body %.200s", resp.StatusCode, all.Bytes())
	}
	return nil
}

func writeHeapProfile(tb testing.TB, path string) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		tb.Fatal(err)
	}
}

func settledMemStats() runtime.MemStats {
	runtime.GC()
	runtime.GC() // the second also empties sync.Pools' victim caches
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// BenchmarkStreamMemory measures what one open stream holds in memory, from
// the heap instead of the RSS: n streams are held open mid-stream (the
// upstream stops after heldEvents events), and the live heap after a full
// collection and the goroutine stacks are compared with before they opened.
// The client and the upstream are in the same process, so each target
// reports its figure minus the same measurement of direct calls (the
// client's and the upstream's share): what the proxy in between holds.
// Run it once per target (-benchtime 1x); -streammem.heap=DIR also writes
// a heap profile per target taken while its streams are held:
//
//	go test -run '^$' -bench StreamMemory -benchtime 1x ./bench/inproc
func BenchmarkStreamMemory(b *testing.B) {
	fullAuth := authKey + "rate_limits: {rules: [" +
		"{name: per-key, scope: key, tpm: 1000000000, rpm: 100000000}, " +
		"{name: per-deployment, scope: deployment, tpm: 1000000000, rpm: 100000000}]}\n"
	targets := []struct {
		name  string
		start func(tb testing.TB, upstream string) string
	}{
		{name: "direct", start: func(_ testing.TB, up string) string { return directURL(up) }},
		{name: "bare-proxy", start: func(tb testing.TB, up string) string { return directURL(startBareProxy(tb, up)) }},
		{name: "moat-noauth", start: func(tb testing.TB, up string) string { return startMoat(tb, up, "auth: {disabled: true}\n") }},
		{name: "moat-key-limits", start: func(tb testing.TB, up string) string { return startMoat(tb, up, fullAuth) }},
	}
	if *heapDir != "" {
		runtime.MemProfileRate = 1 // every allocation, not a sample
	}
	for _, n := range []int{64, 256} {
		for _, t := range targets {
			b.Run(fmt.Sprintf("%s/n=%d", t.name, n), func(b *testing.B) {
				base := startHoldingUpstream(b)
				up := startHoldingUpstream(b)
				url := t.start(b, up.url)
				for range 2 { // warm pools, caches and the log store
					holdStreams(b, up, url, n, "")
					holdStreams(b, base, directURL(base.url), n, "")
				}
				var heap, stack float64
				for range b.N {
					profile := ""
					if *heapDir != "" {
						profile = filepath.Join(*heapDir, fmt.Sprintf("%s-%d.pprof", t.name, n))
					}
					d := holdStreams(b, base, directURL(base.url), n, "")
					m := holdStreams(b, up, url, n, profile)
					if t.name != "direct" {
						m.heap -= d.heap
						m.stack -= d.stack
					}
					heap += m.heap
					stack += m.stack
				}
				b.ReportMetric(heap/float64(b.N)/1024, "heap-KiB/stream")
				b.ReportMetric(stack/float64(b.N)/1024, "stack-KiB/stream")
				b.ReportMetric((heap+stack)/float64(b.N)/1024, "KiB/stream")
			})
		}
	}
}
