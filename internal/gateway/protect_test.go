package gateway

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

const (
	logReaderKey    = "log-reader-key-log-reader-key-0001"
	promptReaderKey = "prompt-reader-key-prompt-reader-01"
)

// TestContentReadPermission: prompt text is served by the query API and
// the dashboard's KQL box only to a principal holding
// Moat/logs/content/read, and every such read is in the audit log.
func TestContentReadPermission(t *testing.T) {
	ts := startServer(t, fmt.Sprintf(`
log: {bodies: true}
auth:
  keys: [{name: ops, key: %s}, {name: reader, key: %s}, {name: prompts, key: %s}]
  assignments:
    - {role: Moat Administrator, principal: 'key:ops'}
    - {role: Moat Log Reader, principal: 'key:reader'}
    - {role: Moat Prompt Reader, principal: 'key:prompts'}
`, adminKey, logReaderKey, promptReaderKey))
	url := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
	if status, _, body := do(t, "POST", url, `{"messages":[{"role":"user","content":"Hello mail carol@example.com"}],"max_tokens":5}`, "api-key", adminKey); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	count := `{"query":"MoatGatewayLogs | count"}`
	for i := 0; ; i++ { // the log writer flushes every 200ms
		_, _, body := do(t, "POST", ts.mgmtURL+"/api/query", count, "api-key", logReaderKey)
		if strings.Contains(body, `[[1]]`) {
			break
		}
		if i == 200 {
			t.Fatalf("the record never arrived: %s", body)
		}
		sleepMs(20)
	}
	audited := func() int {
		_, _, body := do(t, "GET", ts.mgmtURL+"/admin/audit", "", "api-key", adminKey)
		return strings.Count(body, `"action":"logs.content.read"`)
	}
	tests := []struct {
		name, key, path, query string
		status                 int
		want, not              string
		audits                 int
	}{
		{name: "reader names a content column", key: logReaderKey, path: "/api/query", query: "MoatGatewayLogs | project RequestMessages",
			status: 400, want: "reading it needs the Moat/logs/content/read permission"},
		{name: "reader takes whole rows", key: logReaderKey, path: "/api/query", query: "MoatGatewayLogs | take 5",
			status: 200, want: `"CorrelationId"`, not: "RequestMessages"},
		{name: "reader in the dashboard", key: logReaderKey, path: "/dashboard/api/query", query: "MoatGatewayLogs | where RequestMessages contains 'REDACTED' | count",
			status: 400, want: "Moat/logs/content/read"},
		{name: "prompt reader", key: promptReaderKey, path: "/api/query", query: "MoatGatewayLogs | project RequestMessages",
			status: 200, want: "[REDACTED:email]", not: "carol@", audits: 1},
		{name: "prompt reader in the dashboard", key: promptReaderKey, path: "/dashboard/api/query", query: "MoatGatewayLogs | take 1",
			status: 200, want: "RequestMessages", audits: 1},
		{name: "prompt reader without content", key: promptReaderKey, path: "/api/query", query: "MoatGatewayLogs | summarize count() by DeploymentName",
			status: 200, want: "gpt-4o-mini"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := audited()
			q, _ := json.Marshal(map[string]string{"query": tt.query})
			status, _, body := do(t, "POST", ts.mgmtURL+tt.path, string(q), "api-key", tt.key)
			if status != tt.status || !strings.Contains(body, tt.want) || (tt.not != "" && strings.Contains(body, tt.not)) {
				t.Fatalf("%d %s; want %d with %q without %q", status, body, tt.status, tt.want, tt.not)
			}
			if got := audited() - before; got != tt.audits {
				t.Errorf("%d audit entries, want %d", got, tt.audits)
			}
		})
	}
	_, _, body := do(t, "GET", ts.mgmtURL+"/admin/audit", "", "api-key", adminKey)
	if !strings.Contains(body, `"target":"/api/query"`) || !strings.Contains(body, `project RequestMessages`) {
		t.Errorf("audit entry lacks the surface or the query: %s", body)
	}
}

// TestBodyRetention: bodies older than log.body_retention are blanked while
// the rows stay, and newer bodies are kept.
func TestBodyRetention(t *testing.T) {
	clk := newClock()
	ts := startServerOpts(t, "log: {bodies: true, retention: 30d, body_retention: 1h}\n", Options{Version: "test", Now: clk.Now})
	url := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
	call := func() {
		if status, _, body := do(t, "POST", url, chatBody); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
	}
	waitRows := func(n int) {
		for i := 0; i < 300; i++ {
			if recs, err := ts.store.After(context.Background(), 0, 100); err == nil && len(recs) == n {
				return
			}
			sleepMs(20)
		}
		t.Fatalf("the log never held %d records", n)
	}
	call()
	waitRows(1)
	clk.Add(2 * time.Hour)
	call() // new: kept
	waitRows(2)
	since := ts.blankBodies(context.Background(), time.Time{})
	if want := clk.Now().Add(-time.Hour); !since.Equal(want) {
		t.Errorf("next pass starts at %v, want %v", since, want)
	}
	recs := ts.records()
	if len(recs) != 2 || recs[0].RequestBody != "" || recs[0].ResponseBody != "" || recs[1].RequestBody == "" || recs[0].TotalTokens == 0 {
		t.Fatalf("records after body retention: %+v", recs)
	}
}

// TestGuardrails: block, mask and flag rules on prompts and on plain and
// streamed completions, including a card number split across two events.
func TestGuardrails(t *testing.T) {
	tests := []struct {
		name     string
		rules    string
		prompt   string
		answer   []string
		stream   bool
		status   int
		want     []string // in the client's answer
		not      []string // never in the client's answer
		upstream string   // in what the upstream received; "-" when it must not be called
		hits     string   // GuardrailHits
		kind     string   // LastErrorReason
	}{
		{name: "prompt blocked", rules: `[{builtin: card, action: block}]`,
			prompt: `{"messages":[{"role":"user","content":"pay with 4111 1111 1111 1111"}]}`, answer: []string{"ok"},
			status: 400, want: []string{`"code":"content_filter"`, `"param":"prompt"`, `"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"custom_blocklists":[{"filtered":true,"id":"card"}]`},
			upstream: "-", hits: "prompt:block:card", kind: "policy_content_filter"},
		{name: "prompt masked", rules: `[{builtin: email, action: mask, apply_to: prompt}]`,
			prompt: `{"messages":[{"role":"user","content":"write to alice@example.com"}]}`, answer: []string{"done"},
			status: 200, upstream: "write to [REDACTED:email]", hits: "prompt:mask:email"},
		{name: "answer blocked", rules: `[{builtin: card, action: block, apply_to: completion}]`,
			prompt: chatBody, answer: []string{"your card is 5555-5555-5555-4444"},
			status: 200, want: []string{`"finish_reason":"content_filter"`, `"content":null`, `"id":"card"`}, not: []string{"5555"},
			hits: "completion:block:card"},
		{name: "answer masked", rules: `[{builtin: my_number, action: mask}]`,
			prompt: chatBody, answer: []string{"番号は123456789018です"},
			status: 200, want: []string{"番号は[REDACTED:my_number]です"}, not: []string{"123456789018"}, hits: "completion:mask:my_number"},
		{name: "answer flagged", rules: `[{builtin: phone, action: flag}]`,
			prompt: chatBody, answer: []string{"call 03-1234-5678"},
			status: 200, want: []string{"call 03-1234-5678"}, hits: "completion:flag:phone"},
		{name: "stream cut across events", rules: `[{builtin: card, action: block}]`, stream: true,
			prompt: chatBody, answer: []string{"your card 5555-5555-", "5555-4444 and more", " text after"},
			status: 200, want: []string{`"finish_reason":"content_filter"`, "[DONE]", `"id":"card"`}, not: []string{"5555-4444", "text after", `"finish_reason":"stop"`},
			hits: "completion:block:card"},
		{name: "stream masked in an event", rules: `[{builtin: email, action: mask}]`, stream: true,
			prompt: chatBody, answer: []string{"mail ", "bob@example.org now", " bye"},
			status: 200, want: []string{"[REDACTED:email]", " bye", `"finish_reason":"stop"`}, not: []string{"bob@"},
			hits: "completion:mask:email"},
		{name: "other deployment", rules: `[{builtin: card, action: block, deployments: ["gpt-*"]}]`,
			prompt: `{"messages":[{"role":"user","content":"4111111111111111"}]}`, answer: []string{"ok"}, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			up := piiUpstreamRecording(t, tt.answer, &got)
			ts := startServer(t, upstreamConfig(up.URL, "guardrails: "+tt.rules))
			body := tt.prompt
			if tt.stream {
				body = strings.Replace(body, `{"messages"`, `{"stream":true,"messages"`, 1)
			}
			status, _, answer := do(t, "POST", ts.url+"/openai/deployments/chat/chat/completions?api-version=2024-10-21", body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, answer)
			}
			for _, w := range tt.want {
				if !strings.Contains(answer, w) {
					t.Errorf("answer lacks %q:\n%s", w, answer)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(answer, n) {
					t.Errorf("answer has %q:\n%s", n, answer)
				}
			}
			switch {
			case tt.upstream == "-" && len(got) > 0:
				t.Errorf("the upstream was called: %q", got)
			case tt.upstream != "-" && tt.upstream != "" && (len(got) == 0 || !strings.Contains(got[0], tt.upstream)):
				t.Errorf("the upstream received %q, want %q in it", got, tt.upstream)
			}
			recs := ts.records()
			if len(recs) != 1 || recs[0].Guardrail != tt.hits || recs[0].ErrorKind != tt.kind {
				t.Fatalf("log: %d records, GuardrailHits %q kind %q; want %q %q", len(recs), recs[0].Guardrail, recs[0].ErrorKind, tt.hits, tt.kind)
			}
		})
	}
}

// piiUpstreamRecording is piiUpstream that records the bodies it receives.
func piiUpstreamRecording(t *testing.T, pieces []string, got *[]string) *httptest.Server {
	inner := piiUpstream(t, pieces)
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		*got = append(*got, string(b))
		mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		inner.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestGuardrailMaskWithInjectedUsage: a masked stream still has the usage
// moat asked for hidden from the client, and its usage is read.
func TestGuardrailMaskWithInjectedUsage(t *testing.T) {
	f := newFakeUpstream(t, false)
	ts := startServer(t, upstreamConfig(f.URL, "guardrails: [{name: num, regex: 'two|four', action: mask}]"))
	status, _, body := do(t, "POST", ts.url+"/openai/deployments/chat/chat/completions?api-version=2024-10-21",
		`{"stream":true,"messages":[{"role":"user","content":"count"}]}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	for _, w := range []string{"[REDACTED:num]", "one ", "five", "[DONE]"} {
		if !strings.Contains(body, w) {
			t.Errorf("stream lacks %q:\n%s", w, body)
		}
	}
	for _, n := range []string{"two", "four", `"usage"`} {
		if strings.Contains(body, n) {
			t.Errorf("stream has %q:\n%s", n, body)
		}
	}
	recs := ts.records()
	if len(recs) != 1 || recs[0].TotalTokens != 16 || recs[0].TokensEstimated || recs[0].Guardrail != "completion:mask:num" {
		t.Fatalf("record: %+v", recs)
	}
}
