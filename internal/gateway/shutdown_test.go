package gateway

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"
)

// TestShutdownDrainsStreams: on shutdown moat stops accepting and reports
// not ready, while a stream in flight runs to [DONE]; its record is flushed.
func TestShutdownDrainsStreams(t *testing.T) {
	ts := startServer(t, "simulator: {time_to_first_token: 1ms, tokens_per_second: 50}\nshutdown: {grace_period: 20s}")
	url := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
	resp := post(t, context.Background(), url, `{"messages":[{"role":"user","content":"drain"}],"max_tokens":25,"stream":true}`)
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ts.Shutdown(context.Background()) }()
	deadline := time.Now().Add(5 * time.Second)
	for !ts.draining.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	rec := httptestRecorder()
	ts.readyz(rec)
	if rec.Code != 503 {
		t.Fatalf("readyz while draining: %d", rec.Code)
	}
	rest, err := readAll(br)
	resp.Body.Close()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(rest), "data: [DONE]") {
		t.Fatalf("stream cut by shutdown: %v %q", err, rest)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ts.stopped = true
	recs := ts.records()
	if len(recs) != 1 || !recs[0].Streamed || recs[0].Status != 200 || recs[0].ErrorKind != "" {
		t.Fatalf("records %+v", recs)
	}
}
