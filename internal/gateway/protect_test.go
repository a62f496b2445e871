package gateway

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/moat-gw/moat/internal/proctest"
)

// piiUpstream answers chat calls with a completion that carries personal
// data, whole or split across stream events at awkward places.
func piiUpstream(t *testing.T, pieces []string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(readAllString(r), `"stream":true`) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":5,"total_tokens":12}}`, strings.Join(pieces, ""))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, p := range pieces {
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", p)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func readAllString(r *http.Request) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// The personal data of the tests: every built-in class, in a prompt and
// in a completion. A completion splits them across stream events.
var (
	piiPrompt = `{"messages":[{"role":"user","content":"I am alice@example.com, call +81 90-1234-5678, card 4111 1111 1111 1111, My Number 1234-5678-9018"}],"max_tokens":12}`
	piiAnswer = []string{"Sure bob@exa", "mple.org, your card 5555-5555-", "5555-4444 and 03-1234-", "5678."}
	piiRaw    = []string{"alice@example.com", "90-1234-5678", "4111 1111 1111 1111", "1234-5678-9018",
		"bob@example.org", "5555-5555-5555-4444", "03-1234-5678", "example"}
)

// TestRedactionBeforeStore proves that no raw personal data reaches the
// store: it reads the rows back with plain SQL, and on SQLite also every
// byte under the data directory (database, WAL and spool).
func TestRedactionBeforeStore(t *testing.T) {
	up := piiUpstream(t, piiAnswer)
	cfg := upstreamConfig(up.URL, "") + `
log: {bodies: false}
`
	cfg = strings.Replace(cfg, "upstreams: [{upstream: fake, deployment: real-model}]", "upstreams: [{upstream: fake, deployment: real-model}]\n    log_bodies: true", 1)
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			y := cfg
			if store == "postgres" {
				y = strings.Replace(y, "log: {bodies: false}", "log: {bodies: false, store: postgres, postgres_dsn: '"+proctest.PostgresDSN(t)+"'}", 1)
			}
			ts := startServer(t, y)
			url := ts.url + "/openai/deployments/chat/chat/completions?api-version=2024-10-21"
			if st, _, body := do(t, "POST", url, piiPrompt); st != 200 {
				t.Fatalf("plain: %d %s", st, body)
			}
			streamed := strings.Replace(piiPrompt, `"max_tokens":12`, `"max_tokens":12,"stream":true`, 1)
			if st, _, body := do(t, "POST", url, streamed); st != 200 {
				t.Fatalf("stream: %d %s", st, body)
			}
			dsn := ""
			if store == "postgres" {
				dsn = ts.cfg.Load().Log.PostgresDSN.Value()
			}
			ts.stop()
			rows := rawBodies(t, store, ts.dbPath, dsn)
			if len(rows) != 4 {
				t.Fatalf("got %d bodies, want 4: %q", len(rows), rows)
			}
			for _, b := range rows {
				if !strings.Contains(b, "[REDACTED:") {
					t.Errorf("body not redacted: %s", b)
				}
				for _, raw := range piiRaw {
					if strings.Contains(b, raw) {
						t.Errorf("raw %q reached the store: %s", raw, b)
					}
				}
			}
			if store == "sqlite" {
				assertNoRawFiles(t, filepath.Dir(ts.dbPath))
			}
		})
	}
}

// rawBodies reads request_body and response_body of every row with SQL.
func rawBodies(t *testing.T, store, dbPath, dsn string) []string {
	t.Helper()
	const q = "SELECT request_body, response_body FROM request_log"
	var out []string
	if store == "sqlite" {
		db, err := sql.Open("sqlite", dbPath)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rs, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		for rs.Next() {
			var a, b string
			if err := rs.Scan(&a, &b); err != nil {
				t.Fatal(err)
			}
			out = append(out, a, b)
		}
		return out
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rs, err := conn.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for rs.Next() {
		var a, b string
		if err := rs.Scan(&a, &b); err != nil {
			t.Fatal(err)
		}
		out = append(out, a, b)
	}
	return out
}

// assertNoRawFiles reads every file under dir.
func assertNoRawFiles(t *testing.T, dir string) {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		n++
		for _, raw := range piiRaw[:4] { // the prompt's; the store never saw the answer whole
			if strings.Contains(string(b), raw) {
				t.Errorf("raw %q found in %s", raw, path)
			}
		}
		return nil
	})
	if n == 0 {
		t.Error("no files under the data directory")
	}
}
