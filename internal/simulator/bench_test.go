package simulator

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func benchServer(b *testing.B) *Server {
	opts := testOptions(newClock())
	opts.Latency = Latency{}
	for i := range opts.Deployments {
		opts.Deployments[i].TPM, opts.Deployments[i].RPM = 0, 0
	}
	return newServer(b, opts)
}

func bench(b *testing.B, path, body string) {
	s := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status = %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkChat is one non-streamed chat call through the handler, with no
// simulated latency: the simulator's own cost per request.
func BenchmarkChat(b *testing.B) { bench(b, chatPath, helloChat) }

// BenchmarkChatStream is the same call streamed with the usage chunk.
func BenchmarkChatStream(b *testing.B) { bench(b, chatPath, withStream(helloChat, true)) }

// BenchmarkEmbeddings embeds one short input at 1536 dimensions.
func BenchmarkEmbeddings(b *testing.B) {
	bench(b, embedPath, `{"input":"The food was delicious and the waiter was friendly."}`)
}
