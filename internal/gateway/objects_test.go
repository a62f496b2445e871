package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/affinity"
	"github.com/moat-gw/moat/internal/simulator"
	"github.com/moat-gw/moat/internal/tokens"
)

// responseID reads the id of a Responses answer.
func responseID(t *testing.T, body string) string {
	t.Helper()
	var r struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.ID == "" {
		t.Fatalf("no response id in %s", body)
	}
	return r.ID
}

// startSeeded serves a simulated Azure resource whose IDs differ from
// other seeds', as two real resources' do.
func startSeeded(t *testing.T, seed int64) *httptest.Server {
	t.Helper()
	sim, err := simulator.New(simulator.Options{
		Deployments: []simulator.Deployment{{Name: "gpt-4o-mini", Model: "gpt-4o-mini"}}, Seed: seed,
	}, tokens.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return srv
}

// equalPool is a deployment "chat" over two simulated Azure resources of
// equal weight, so that unpinned calls land on both.
func equalPool(a, b, extra string) string {
	return poolConfig(a, b, 1, 1, extra)
}

// TestResponsesAffinity: follow-ups with previous_response_id and every
// call on a stored response reach the member that created it, on the
// dated, v1 and OpenAI surfaces, though weights spread other calls over
// both members; a delete drops the pin.
func TestResponsesAffinity(t *testing.T) {
	a, b := startSeeded(t, 1), startSeeded(t, 2)
	ts := startServer(t, equalPool(a.URL, b.URL, ""))
	create := func(body string) string {
		t.Helper()
		status, _, out := do(t, "POST", ts.url+"/openai/v1/responses", body)
		if status != 200 {
			t.Fatalf("create: %d %s", status, out)
		}
		return responseID(t, out)
	}
	first := create(`{"model":"chat","input":"Hello"}`)
	prev := first
	for range 8 {
		prev = create(`{"model":"chat","input":"And then?","previous_response_id":"` + prev + `"}`)
	}
	// A streamed follow-up is pinned from its response.created event.
	status, _, stream := do(t, "POST", ts.url+"/v1/responses", `{"model":"chat","input":"Go on","stream":true,"previous_response_id":"`+prev+`"}`)
	if status != 200 || !strings.Contains(stream, "response.completed") {
		t.Fatalf("stream: %d %s", status, stream)
	}
	streamed := streamResponseID(t, stream)
	for _, tt := range []struct {
		name, method, path string
		want               int
	}{
		{"retrieve dated", "GET", "/openai/responses/" + first + "?api-version=2025-04-01-preview", 200},
		{"retrieve v1", "GET", "/openai/v1/responses/" + prev, 200},
		{"retrieve streamed", "GET", "/v1/responses/" + streamed, 200},
		{"input items", "GET", "/openai/v1/responses/" + first + "/input_items?limit=5", 200},
		{"cancel not background", "POST", "/openai/v1/responses/" + first + "/cancel", 400},
		{"delete", "DELETE", "/openai/responses/" + first + "?api-version=2025-04-01-preview", 200},
		{"retrieve deleted", "GET", "/openai/v1/responses/" + first, 404},
		{"unknown id", "GET", "/openai/v1/responses/resp_unknown", 404},
		{"bad id", "GET", "/openai/v1/responses/a%2Fb", 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := do(t, tt.method, ts.url+tt.path, "")
			if status != tt.want {
				t.Fatalf("%s %s: %d %s", tt.method, tt.path, status, body)
			}
		})
	}
	for range 20 { // unpinned creates spread over both members
		create(`{"model":"chat","input":"Hi"}`)
	}
	recs := ts.records()
	creator := recs[0].Upstream
	used := map[string]int{}
	for i, r := range recs {
		used[r.Upstream]++
		if i < 10+8 && r.Upstream != "" && r.Upstream != creator {
			t.Errorf("call %d (%s %s) went to %s, the chain lives on %s", i, r.Method, r.Path, r.Upstream, creator)
		}
		if i >= 10 && i < 18 && (r.TotalTokens != 0 || r.Operation == "Responses_Create") {
			t.Errorf("call %d on a stored response: %+v", i, r)
		}
	}
	if used["a"] == 0 || used["b"] == 0 {
		t.Errorf("weights did not spread the unpinned calls: %v", used)
	}
	if recs[10].Operation != "Responses_Get" || recs[15].Operation != "Responses_Delete" {
		t.Errorf("operations: %s, %s", recs[10].Operation, recs[15].Operation)
	}
}

func streamResponseID(t *testing.T, stream string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(stream))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var ev struct {
				Response struct{ ID string } `json:"response"`
			}
			if json.Unmarshal([]byte(data), &ev) == nil && ev.Response.ID != "" {
				return ev.Response.ID
			}
		}
	}
	t.Fatal("no response id in stream")
	return ""
}

// TestResponsesPinnedMemberDown: when the member holding a response is
// down, calls on it fail as that member's failure (502); they are not
// rerouted to a member that does not hold the response.
func TestResponsesPinnedMemberDown(t *testing.T) {
	a, b := startSeeded(t, 1), startSeeded(t, 2)
	ts := startServer(t, equalPool(a.URL, b.URL, ""))
	status, _, out := do(t, "POST", ts.url+"/openai/v1/responses", `{"model":"chat","input":"Hello"}`)
	if status != 200 {
		t.Fatal(status, out)
	}
	id := responseID(t, out)
	pin, err := ts.pins.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	map[string]func(){"a": a.Close, "b": b.Close}[pin.Member]()
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/openai/v1/responses/" + id, ""},
		{"POST", "/openai/v1/responses", `{"model":"chat","input":"More","previous_response_id":"` + id + `"}`},
	} {
		if status, _, body := do(t, c.method, ts.url+c.path, c.body); status != http.StatusBadGateway {
			t.Errorf("%s %s with its member down: %d %s", c.method, c.path, status, body)
		}
	}
	for _, r := range ts.records()[1:] {
		if r.Attempts != 1 || r.Upstream != pin.Member {
			t.Errorf("rerouted: attempts %d upstream %s, pinned to %s", r.Attempts, r.Upstream, pin.Member)
		}
	}
}

// TestResponsesPinsShared: a replica finds the pins another made, through
// the shared store, and keeps serving the pins it cached while the store
// is gone; a pin it never saw is then a clear 503, not a guess.
func TestResponsesPinsShared(t *testing.T) {
	a, b := startSeeded(t, 1), startSeeded(t, 2)
	dir := t.TempDir()
	replica := func(n string) string {
		return completeConfig(equalPool(a.URL, b.URL, "log: {spool_dir: '"+filepath.Join(dir, "spool-"+n)+"'}\n"), dir)
	}
	// Replica two reaches the store through a switch, to cut it later; a
	// reload before it starts hands the new table to its pipeline.
	cut := &switchStore{}
	one := startAt(t, replica("one"), nil)
	two := startAt(t, replica("two"), func(srv *Server) {
		cut.Store = srv.store.(affinity.Store)
		srv.pins = affinity.NewTable(affinity.Options{Store: cut, Timeout: 50 * time.Millisecond})
		if err := srv.Reload(mustConfig(t, replica("two"))); err != nil {
			t.Fatal(err)
		}
	})
	var ids []string
	for range 4 {
		status, _, out := do(t, "POST", one.url+"/openai/v1/responses", `{"model":"chat","input":"Hello"}`)
		if status != 200 {
			t.Fatal(status, out)
		}
		ids = append(ids, responseID(t, out))
	}
	for _, id := range ids[:2] {
		for _, srv := range []*testServer{one, two} {
			if status, _, body := do(t, "GET", srv.url+"/openai/v1/responses/"+id, ""); status != 200 {
				t.Fatalf("retrieve %s: %d %s", id, status, body)
			}
		}
	}
	cut.down.Store(true)
	if status, _, body := do(t, "GET", two.url+"/openai/v1/responses/"+ids[0], ""); status != 200 {
		t.Fatalf("cached pin with the store down: %d %s", status, body)
	}
	if status, _, body := do(t, "GET", two.url+"/openai/v1/responses/"+ids[2], ""); status != 503 {
		t.Fatalf("uncached pin with the store down: %d %s", status, body)
	}
	if status, _, body := do(t, "POST", two.url+"/openai/v1/responses", `{"model":"chat","input":"x","previous_response_id":"`+ids[3]+`"}`); status != 503 ||
		!strings.Contains(body, "cannot locate") {
		t.Fatalf("follow-up with the store down: %d %s", status, body)
	}
	// Creates without a chain do not need the store.
	if status, _, body := do(t, "POST", two.url+"/openai/v1/responses", `{"model":"chat","input":"x"}`); status != 200 {
		t.Fatalf("create with the store down: %d %s", status, body)
	}
}

// startAt starts moat on a complete config (replicas sharing a data dir);
// before, when set, runs between New and Start.
func startAt(t *testing.T, cfgYAML string, before func(*Server)) *testServer {
	t.Helper()
	srv, err := New(context.Background(), mustConfig(t, cfgYAML), Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(srv)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, t: t, url: "http://" + srv.Addr("data"), mgmtURL: "http://" + srv.Addr("mgmt"),
		dbPath: filepath.Join(srv.cfg.Load().DataDir, "moat.db")}
	t.Cleanup(func() { ts.stop() })
	return ts
}

// switchStore is a pin store that can be cut off, as in a store outage.
type switchStore struct {
	affinity.Store
	down atomic.Bool
}

func (s *switchStore) GetPin(ctx context.Context, id string, now time.Time) (affinity.Pin, error) {
	if s.down.Load() {
		return affinity.Pin{}, io.ErrUnexpectedEOF
	}
	return s.Store.GetPin(ctx, id, now)
}

// TestResponsesUsage: a plain and a streamed create are charged their
// usage; a background create, answered before it generates, is charged
// its reservation (prompt plus max_output_tokens), and retrieving the
// completed response charges nothing more.
func TestResponsesUsage(t *testing.T) {
	a, b := startSeeded(t, 1), startSeeded(t, 2)
	ts := startServer(t, equalPool(a.URL, b.URL, "rate_limits: {rules: [{name: t, scope: deployment, tpm: 100000}]}\n"))
	url := ts.url + "/openai/v1/responses"
	for _, body := range []string{
		`{"model":"chat","input":"Hello","max_output_tokens":40}`,
		`{"model":"chat","input":"Hello","max_output_tokens":40,"stream":true}`,
	} {
		if status, h, out := do(t, "POST", url, body); status != 200 || h.Get("X-Ratelimit-Remaining-Tokens") == "" {
			t.Fatalf("%s: %d %v %s", body, status, h, out)
		}
	}
	status, _, out := do(t, "POST", url, `{"model":"chat","input":"Hello","max_output_tokens":40,"background":true}`)
	if status != 200 {
		t.Fatal(status, out)
	}
	id := responseID(t, out)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, _, out := do(t, "GET", url+"/"+id, "")
		if strings.Contains(out, `"status":"completed"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background response never completed: %s", out)
		}
	}
	recs := ts.records()
	for i, r := range recs[:2] {
		if r.TotalTokens == 0 || r.TokensEstimated {
			t.Errorf("create %d: tokens %d estimated %v", i, r.TotalTokens, r.TokensEstimated)
		}
	}
	bg := recs[2]
	if !bg.TokensEstimated || bg.CompletionTokens != 40 || bg.PromptTokens == 0 {
		t.Errorf("background create: %+v", bg)
	}
	for _, r := range recs[3:] {
		if r.TotalTokens != 0 || r.Operation != "Responses_Get" {
			t.Errorf("retrieve charged: %+v", r)
		}
	}
}

// batchPool is a deployment gpt-4o-mini (the name its batch lines use,
// upstream too) over two simulated Azure resources of equal weight.
func batchPool(a, b, extra string) string {
	return fmt.Sprintf(`
upstreams:
  - {name: a, type: azure, endpoint: '%s', api_key: key-a}
  - {name: b, type: azure, endpoint: '%s', api_key: key-b}
deployments:
  - name: gpt-4o-mini
    model: gpt-4o-mini
    upstreams: [{upstream: a}, {upstream: b}]
%s`, a, b, extra)
}

// uploadBatchFile posts a multipart batch file through moat.
func uploadBatchFile(t *testing.T, url, content string) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("purpose", "batch")
	fw, _ := mw.CreateFormFile("file", "in.jsonl")
	_, _ = fw.Write([]byte(content))
	_ = mw.Close()
	status, _, out := do(t, "POST", url, body.String(), "Content-Type", mw.FormDataContentType())
	return status, out
}

// TestBatchAffinity: an uploaded batch file is pinned to the member that
// stored it, the batch is created there, its status, output and error
// files are read from there on every surface, and reading the output is
// what charges its tokens.
func TestBatchAffinity(t *testing.T) {
	a, b := startSeededBatch(t, 1), startSeededBatch(t, 2)
	ts := startServer(t, batchPool(a.URL, b.URL, "rate_limits: {rules: [{name: t, scope: deployment, tpm: 1000000}]}\n"))
	const input = `{"custom_id":"1","method":"POST","url":"/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"max_tokens":5}}
{"custom_id":"2","method":"POST","url":"/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Yo"}],"max_tokens":5}}
`
	// Uploads go by weight, so six can all land on one member (1 in 32):
	// upload until both members hold files, as the test needs.
	var files []string
	spread := func() bool { // asked of the members themselves: the log is read once, at the end
		return len(getList(t, a.URL+"/openai/v1/files", "api-key", "key-a").Data) > 0 &&
			len(getList(t, b.URL+"/openai/v1/files", "api-key", "key-b").Data) > 0
	}
	for len(files) < 6 || !spread() && len(files) < 40 {
		status, out := uploadBatchFile(t, ts.url+"/openai/v1/files", input)
		if status != 200 {
			t.Fatalf("upload: %d %s", status, out)
		}
		files = append(files, responseID(t, out))
	}
	n := len(files)
	var batches []string
	for i, f := range files {
		path := []string{"/openai/v1/batches", "/v1/batches", "/openai/batches?api-version=2025-04-01-preview"}[i%3]
		status, _, out := do(t, "POST", ts.url+path, `{"input_file_id":"`+f+`","endpoint":"/chat/completions","completion_window":"24h"}`)
		if status != 200 {
			t.Fatalf("batch on %s: %d %s", f, status, out)
		}
		batches = append(batches, responseID(t, out))
	}
	var outputs []string
	for _, id := range batches {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			status, _, out := do(t, "GET", ts.url+"/openai/batches/"+id+"?api-version=2025-04-01-preview", "")
			var bo struct {
				Status       string
				OutputFileID string `json:"output_file_id"`
			}
			_ = json.Unmarshal([]byte(out), &bo)
			if status != 200 || time.Now().After(deadline) {
				t.Fatalf("batch %s: %d %s", id, status, out)
			}
			if bo.Status == "completed" {
				outputs = append(outputs, bo.OutputFileID)
				break
			}
		}
	}
	for _, f := range outputs {
		status, _, out := do(t, "GET", ts.url+"/openai/v1/files/"+f+"/content", "")
		if status != 200 || strings.Count(out, `"status_code":200`) != 2 {
			t.Fatalf("output %s: %d %s", f, status, out)
		}
	}
	for _, tt := range []struct{ method, path string }{
		{"GET", "/openai/v1/files/" + files[0]},
		{"DELETE", "/openai/files/" + files[0] + "?api-version=2025-04-01-preview"},
	} {
		if status, _, out := do(t, tt.method, ts.url+tt.path, ""); status != 200 {
			t.Fatalf("%s %s: %d %s", tt.method, tt.path, status, out)
		}
	}
	if status, _, _ := do(t, "GET", ts.url+"/openai/v1/files/"+files[0], ""); status != 404 {
		t.Errorf("deleted file: %d", status)
	}
	if status, _, out := do(t, "POST", ts.url+"/openai/v1/batches", `{"input_file_id":"file-unknown","endpoint":"/chat/completions"}`); status != 404 ||
		!strings.Contains(out, "File with id 'file-unknown' not found.") {
		t.Errorf("batch on an unknown file: %d %s", status, out)
	}
	// Which member holds each object, from the log: the upload's.
	recs := ts.records()
	holder := map[string]string{}
	used := map[string]bool{}
	for _, r := range recs[:n] {
		used[r.Upstream] = true
	}
	if !used["a"] || !used["b"] {
		t.Errorf("uploads did not spread: %v", used)
	}
	for i, f := range files {
		holder[f] = recs[i].Upstream
	}
	for i := range batches {
		if r := recs[n+i]; r.Upstream != holder[files[i]] || r.Operation != "Batch_Create" {
			t.Errorf("batch %d created on %s, its file is on %s", i, r.Upstream, holder[files[i]])
		}
	}
	charged := 0
	for _, r := range recs {
		switch r.Operation {
		case "Files_GetContent":
			if r.TotalTokens == 0 {
				t.Errorf("output read without charge: %+v", r)
			}
			charged++
		case "Batch_Get", "Files_Upload", "Batch_Create":
			if r.TotalTokens != 0 {
				t.Errorf("%s charged %d tokens", r.Operation, r.TotalTokens)
			}
		}
	}
	if charged != len(outputs) {
		t.Errorf("%d output reads charged, want %d", charged, len(outputs))
	}
}

// startSeededBatch is startSeeded with batches that finish in 150ms.
func startSeededBatch(t *testing.T, seed int64) *httptest.Server {
	t.Helper()
	sim, err := simulator.New(simulator.Options{
		Deployments: []simulator.Deployment{{Name: "gpt-4o-mini", Model: "gpt-4o-mini"}}, Seed: seed,
		BatchTime: 150 * time.Millisecond, Latency: simulator.Latency{},
	}, tokens.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return srv
}
