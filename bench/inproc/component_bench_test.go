package inproc

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/bench/fixture"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
	"github.com/moat-gw/moat/internal/tokens"
)

// The benchmarks below time, on the benchmark call itself, the per-call
// steps that the CPU profile of BenchmarkGateway shows as moat's own work
// (as opposed to the HTTP exchange), so their share of a call can be read
// off directly.

// BenchmarkParseRequest is the request-body parse every call pays.
func BenchmarkParseRequest(b *testing.B) {
	body := []byte(fixture.ChatRequest)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := openai.ParseRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPromptEstimate is the offline prompt-token count that moat
// computes for every call before forwarding it.
func BenchmarkPromptEstimate(b *testing.B) {
	c := tokens.New()
	r, err := openai.ParseRequest([]byte(fixture.ChatRequest))
	if err != nil {
		b.Fatal(err)
	}
	c.Prompt("gpt-4o-mini", r) // load the vocabulary outside the loop
	b.ReportAllocs()
	for b.Loop() {
		c.Prompt("gpt-4o-mini", r)
	}
}

// BenchmarkUsageFromBody is the usage read from a non-streamed answer.
func BenchmarkUsageFromBody(b *testing.B) {
	body := []byte(fixture.ChatResponse)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := openai.UsageFromBody(body); !ok {
			b.Fatal("no usage")
		}
	}
}

// BenchmarkStreamChunk is the per-event parse of a streamed answer.
func BenchmarkStreamChunk(b *testing.B) {
	ev := []byte(`data: {"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},` +
		`"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},` +
		`"violence":{"filtered":false,"severity":"safe"}},"delta":{"content":" word"},"finish_reason":null,"index":0,` +
		`"logprobs":null}],"created":1795379844,"id":"chatcmpl-u4k8Ve5jg03NyKW0uE8K1i5AqM7Ve",` +
		`"model":"gpt-4o-mini-2024-07-18","object":"chat.completion.chunk","system_fingerprint":"fp_70c0fca938","usage":null}` + "\n\n")
	b.ReportAllocs()
	for b.Loop() {
		name, data := openai.EventData(ev)
		if c := openai.ParseStreamChunk(name, data); c.Text == "" {
			b.Fatal("no text")
		}
	}
}

// sqliteWritePrefill is how many rows BenchmarkSQLiteWritePerRecord's log
// holds before it is timed. The (caller, time) index's cost with many
// callers grows with it: at 100,000 rows and 10,000 callers about ten
// callers share a leaf; from about a million rows on, every caller's newest
// entries are a leaf of their own, as in a gateway that has run a while.
var sqliteWritePrefill = flag.Int("sqlitewrite.prefill", 100000, "BenchmarkSQLiteWritePerRecord: rows in the log before the timed writes")

// BenchmarkSQLiteWritePerRecord is the request log's cost per record when
// written in batches of 256 (the default batch size), on the writer's
// goroutine rather than the call's, into a log that already holds
// -sqlitewrite.prefill rows. Every record is new: its own request ID, times
// moving forward as in real traffic (a record already stored is skipped,
// which is far cheaper than an insert), and the Headers column a call
// through moat stores. With 10,000 callers in rotation each is another key,
// as with bench/compare.sh's moat-full-10k; the caller index takes them in
// bulk (callerindex.go in sqlitestore), which the timing includes.
func BenchmarkSQLiteWritePerRecord(b *testing.B) {
	for _, callers := range []int{1, 10000} {
		b.Run("callers="+strconv.Itoa(callers), func(b *testing.B) { benchSQLiteWrite(b, callers) })
	}
}

func benchSQLiteWrite(b *testing.B, callers int) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(b.TempDir(), "moat.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rec := reqlog.Record{Time: time.Now().UTC(), AuthType: "key", ClientIP: "127.0.0.1", Listener: "bench",
		Deployment: "echo-gpt-4o-mini", Model: "gpt-4o-mini",
		Operation: "ChatCompletions_Create", APIVersion: "2024-10-21", Method: "POST",
		Path: "/openai/deployments/echo-gpt-4o-mini/chat/completions", Status: 200, UpstreamStatus: 200,
		TotalMs: 0.3, UpstreamMs: 0.1, FirstByteMs: 0.2, PromptTokens: 8, CompletionTokens: 20, TotalTokens: 28,
		RequestBytes: 160, ResponseBytes: 1312, Region: "local", Attempts: 1, Upstream: "echo",
		// What bench/compare.sh's upstream answers, as moat logs it.
		Headers: `{"req":{"content-type":"application/json","user-agent":"Go-http-client/1.1"},` +
			`"resp":{"apim-request-id":"1198fc38-47f2-4203-a937-5f44ac0e4345","content-type":"application/json",` +
			`"x-ms-region":"Sweden Central","x-ratelimit-remaining-requests":"99810736",` +
			`"x-ratelimit-remaining-tokens":"994700466","x-request-id":"1198fc38-47f2-4203-a937-5f44ac0e4345"}}`}
	batch := make([]reqlog.Record, reqlog.DefaultBatchSize)
	for i := range batch {
		batch[i] = rec
		batch[i].Time = rec.Time.Add(time.Duration(i) * time.Millisecond)
	}
	n := 0
	write := func() {
		for i := range batch {
			batch[i].Time = batch[i].Time.Add(time.Duration(len(batch)) * time.Millisecond)
			batch[i].RequestID = "req-" + strconv.Itoa(n+i)
			batch[i].Caller = "key:" + strconv.Itoa((n+i)%callers) + "-3f9a1c0e"
		}
		if err := st.WriteBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
		n += len(batch)
	}
	for n < *sqliteWritePrefill {
		write()
	}
	b.ReportAllocs()
	r0, w0, ioErr := readWriteSyscalls()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		write()
	}
	b.StopTimer()
	if r1, w1, err := readWriteSyscalls(); err == nil && ioErr == nil {
		b.ReportMetric(float64(r1-r0)/float64(b.N), "reads/row")
		b.ReportMetric(float64(w1-w0)/float64(b.N), "writes/row")
	}
	if got := countRows(b, st); got != n {
		b.Fatalf("%d rows stored, %d written", got, n)
	}
}

// readWriteSyscalls returns the read and write system calls this process
// has made (syscr and syscw of /proc/self/io, Linux): steadier than time on
// a busy machine for what SQLite reads back and writes.
func readWriteSyscalls() (reads, writes int64, err error) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, 0, err
		}
		switch name {
		case "syscr":
			reads = n
		case "syscw":
			writes = n
		}
	}
	return reads, writes, nil
}

// countRows returns how many request-log rows st holds.
func countRows(b *testing.B, st *sqlitestore.Store) int {
	b.Helper()
	var n int
	if err := st.DB().QueryRowContext(context.Background(), "SELECT count(*) FROM "+reqlog.SQLTable).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}
