package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestTimeToFirstToken: a stream's first byte is Azure's prompt-filter
// event, sent before the model's first token; the log's FirstTokenTime is
// the first event with content, so it includes the simulated time to first
// token while FirstByteTime does not.
func TestTimeToFirstToken(t *testing.T) {
	ts := startServer(t, "simulator: {time_to_first_token: 300ms, tokens_per_second: 0}\n")
	req, _ := http.NewRequest("POST", ts.url+"/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
		strings.NewReader(`{"messages":[{"role":"user","content":"hi"}],"max_tokens":5,"stream":true}`))
	req.Header.Set("api-key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if status, _, body := do(t, "POST", ts.url+"/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
		chatBody, "api-key", "k"); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	recs := ts.records() // stops the server, so the log is flushed
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if !r.Streamed {
		r = recs[1]
	}
	if r.FirstTokenMs < 300 || r.FirstByteMs >= r.FirstTokenMs {
		t.Fatalf("first byte %.1f ms, first token %.1f ms; want the token after the simulated 300 ms and after the first byte", r.FirstByteMs, r.FirstTokenMs)
	}
	plain := recs[0]
	if plain.Streamed {
		plain = recs[1]
	}
	if plain.FirstTokenMs != plain.FirstByteMs || plain.FirstTokenMs == 0 {
		t.Fatalf("a plain answer's first token is its first byte: %+v", plain)
	}
}
