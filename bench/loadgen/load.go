package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// sample is one call's outcome.
type sample struct {
	total  time.Duration // request written to last body byte read
	ttfb   time.Duration // request written to first body byte read
	status int           // 0 when no response arrived
	err    string        // "" for a successful call
}

// caller sends the benchmark call over a kept-alive connection pool sized
// to the concurrency, so no measured call pays for a TCP handshake.
type caller struct {
	url    string
	key    string
	keys   []string     // when set, calls rotate through them (-keys)
	next   atomic.Int64 // the next key of keys
	body   []byte
	stream bool
	client *http.Client
	tr     *http.Transport
}

func newCaller(url, key string, body []byte, conns int, timeout time.Duration, stream bool) *caller {
	tr := &http.Transport{
		Proxy:               nil, // benchmarks talk to 127.0.0.1 only, never through HTTP_PROXY
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns + 16,
		MaxIdleConnsPerHost: conns + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // moat and the upstream send identity bodies; measure those
	}
	return &caller{url: url, key: key, body: body, stream: stream, tr: tr,
		client: &http.Client{Transport: tr, Timeout: timeout}}
}

func (c *caller) close() { c.tr.CloseIdleConnections() }

// load runs workers closed-loop until d has passed or maxN calls were
// started (maxN 0: no count bound), and returns every call's sample. Calls
// in flight at the deadline finish and are counted; the per-call timeout
// bounds how long that takes.
func (c *caller) load(ctx context.Context, workers int, d time.Duration, maxN int) []sample {
	deadline := time.Now().Add(d)
	var started atomic.Int64
	per := make([][]sample, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			out := make([]sample, 0, 4096)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if maxN > 0 && started.Add(1) > int64(maxN) {
					break
				}
				out = append(out, c.call(ctx, buf))
			}
			per[w] = out
		}()
	}
	wg.Wait()
	n := 0
	for _, p := range per {
		n += len(p)
	}
	all := make([]sample, 0, n)
	for _, p := range per {
		all = append(all, p...)
	}
	return all
}

var doneMarker = []byte("data: [DONE]")

// call sends one request and reads the whole answer. A call succeeds when
// the status is 200 and the body is complete (for a stream: it ends with
// the [DONE] event).
func (c *caller) call(ctx context.Context, buf []byte) sample {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(c.body))
	if err != nil {
		return sample{err: err.Error()}
	}
	req.Header["Content-Type"] = []string{"application/json"}
	key := c.key
	if len(c.keys) > 0 {
		key = c.keys[int(c.next.Add(1)-1)%len(c.keys)]
	}
	req.Header["Api-Key"] = []string{key}
	start := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		return sample{total: time.Since(start), err: err.Error()}
	}
	defer resp.Body.Close()
	s := sample{status: resp.StatusCode}
	var total int
	var tail [32]byte
	tailN := 0
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if total == 0 {
				s.ttfb = time.Since(start)
			}
			total += n
			tailN = keepTail(&tail, tailN, buf[:n])
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			s.total = time.Since(start)
			s.err = "read body: " + rerr.Error()
			return s
		}
	}
	s.total = time.Since(start)
	switch {
	case resp.StatusCode != http.StatusOK:
		s.err = fmt.Sprintf("status %d: %.200s", resp.StatusCode, buf[:min(total, len(buf))])
	case total == 0:
		s.err = "empty body"
	case c.stream && !bytes.Contains(tail[:tailN], doneMarker):
		s.err = "stream ended without [DONE]"
	}
	return s
}

// keepTail keeps the last len(tail) bytes seen across reads, for the
// end-of-stream check, and returns how many are held.
func keepTail(tail *[32]byte, held int, b []byte) int {
	if len(b) >= len(tail) {
		copy(tail[:], b[len(b)-len(tail):])
		return len(tail)
	}
	keep := min(held, len(tail)-len(b))
	copy(tail[:keep], tail[held-keep:held])
	copy(tail[keep:], b)
	return keep + len(b)
}
