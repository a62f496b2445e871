package redact

import (
	"fmt"
	"strings"
	"testing"
)

// benchBody is a chat request of about size bytes: a system message and
// user turns of ordinary prose, with one e-mail address, one phone number
// and one card number in it (the case where redaction has work to do).
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
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					s.Body(body)
				}
			})
		}
	}
}

func BenchmarkGuard(b *testing.B) {
	custom, err := Custom("ticket", `TKT-[0-9]{8}`)
	if err != nil {
		b.Fatal(err)
	}
	g := NewGuard([]GuardRule{{builtin(b, Card), Block}, {builtin(b, Email), Mask}, {builtin(b, Phone), Flag}, {custom, Flag}})
	for _, size := range []int{1 << 10, 16 << 10} {
		body := benchBody(size, false)
		b.Run(fmt.Sprintf("check/size=%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				g.Check(body)
			}
		})
	}
	// A stream of 40-byte deltas: the per-event cost of the window.
	delta := []byte("the quick brown fox jumps over the lazy ")
	b.Run("stream/40B-event", func(b *testing.B) {
		sg := g.Stream()
		b.SetBytes(int64(len(delta)))
		b.ReportAllocs()
		for b.Loop() {
			sg.Feed(delta)
		}
	})
}
