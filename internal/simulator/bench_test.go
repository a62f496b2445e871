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

// benchMessages is one Messages API call through the handler.
func benchMessages(b *testing.B, body string) {
	s := benchServer(b)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", messagesPath, strings.NewReader(body))
		req.Header.Set("anthropic-version", "2023-06-01")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status = %d: %s", rec.Code, rec.Body)
		}
	}
}

const helloMessages = `{"model":"claude-sonnet-4-6","max_tokens":1024,"system":"You are a helpful assistant.","messages":[{"role":"user","content":"Hello! How are you today?"}]}`

// BenchmarkMessages is one non-streamed Claude call: the Messages API's
// cost per request, to compare with BenchmarkChat.
func BenchmarkMessages(b *testing.B) { benchMessages(b, helloMessages) }

// BenchmarkMessagesStream is the same call streamed.
func BenchmarkMessagesStream(b *testing.B) {
	benchMessages(b, strings.Replace(helloMessages, `"max_tokens":1024`, `"max_tokens":1024,"stream":true`, 1))
}

// BenchmarkMessagesTools is a streamed call that answers with a tool call.
func BenchmarkMessagesTools(b *testing.B) {
	benchMessages(b, `{"model":"claude-sonnet-4-6","max_tokens":1024,"stream":true,"tools":[{"name":"get_weather","input_schema":`+weatherSchema+`}],"messages":[{"role":"user","content":"get weather in Oslo"}]}`)
}
