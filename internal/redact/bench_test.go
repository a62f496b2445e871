//go:build unix

package redact

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchBody is a chat request of about size bytes: a system message and
// user turns of ordinary prose, and, with pii, one more turn with an
// e-mail address, a phone number and a card number (the case where
// redaction has work to do).
func benchBody(size int, pii bool) []byte {
	var b strings.Builder
	b.WriteString(`{"model":"gpt-4o","max_tokens":512,"messages":[{"role":"system","content":"You are a helpful assistant for the support desk."}`)
	turn := `,{"role":"user","content":"The quick brown fox jumps over the lazy dog while the support team reviews ticket 4521 and answers within 2 days."}`
	for b.Len() < size-len(turn)-200 {
		b.WriteString(turn)
	}
	if pii {
		b.WriteString(`,{"role":"user","content":"Reach me at alice@example.com or +81 90-1234-5678; card 4111 1111 1111 1111."}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func BenchmarkRedact(b *testing.B) {
	s := allBuiltins(b)
	for _, size := range []int{1 << 10, 16 << 10} {
		for _, pii := range []bool{false, true} {
			body := benchBody(size, pii)
			b.Run(fmt.Sprintf("size=%dKiB/pii=%v", size>>10, pii), func(b *testing.B) {
				measure(b, len(body), func() { s.Body(body) })
			})
		}
	}
}

func BenchmarkGuard(b *testing.B) {
	custom, err := Custom("ticket", `TKT-[0-9]{8}`)
	if err != nil {
		b.Fatal(err)
	}
	builtins := NewGuard([]GuardRule{{builtin(b, Card), Block}, {builtin(b, Email), Mask}, {builtin(b, Phone), Flag}})
	withCustom := NewGuard([]GuardRule{{builtin(b, Card), Block}, {builtin(b, Email), Mask}, {builtin(b, Phone), Flag}, {custom, Flag}})
	for _, g := range []struct {
		name  string
		guard *Guard
	}{{"builtins", builtins}, {"builtins+regex", withCustom}} {
		for _, size := range []int{1 << 10, 16 << 10} {
			body := benchBody(size, false)
			b.Run(fmt.Sprintf("check/%s/size=%dKiB", g.name, size>>10), func(b *testing.B) {
				measure(b, len(body), func() { g.guard.Check(body) })
			})
		}
	}
	// A stream of 40-byte deltas: the per-event cost of the window.
	delta := []byte("the quick brown fox jumps over the lazy ")
	b.Run("stream/40B-event", func(b *testing.B) {
		sg := withCustom.Stream()
		measure(b, len(delta), func() { sg.Feed(delta) })
	})
}

// measure runs fn in b.Loop and reports the time per KiB of body, the
// figure docs/benchmarks.md quotes: wall time, and the process's CPU time
// (user plus system, from getrusage), which a machine shared with other
// work inflates far less.
func measure(b *testing.B, size int, fn func()) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var start time.Duration
	first := true
	for b.Loop() {
		if first {
			start, first = cpuTime(), false
		}
		fn()
	}
	kib := float64(size) / 1024
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/kib, "ns/KiB")
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N)/kib, "cpu-ns/KiB")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
