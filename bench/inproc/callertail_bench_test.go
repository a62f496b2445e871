package inproc

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/kql"
	"github.com/moat-gw/moat/internal/logquery"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
)

// BenchmarkKQLCallerTail times a per-caller KQL query on a SQLite log
// whose newest rows are not yet in the caller index (the rows a gateway
// writes between two index updates), and with every row indexed.
func BenchmarkKQLCallerTail(b *testing.B) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(b.TempDir(), "moat.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Now().UTC().Add(-2 * time.Hour)
	batch := make([]reqlog.Record, reqlog.DefaultBatchSize)
	n := 0
	const rows = 300000
	for n < rows {
		for i := range batch {
			batch[i] = reqlog.Record{Time: start.Add(time.Duration(n+i) * 20 * time.Millisecond),
				RequestID: "req-" + strconv.Itoa(n+i), Caller: "key:" + strconv.Itoa((n+i)%100),
				Deployment: "d", Model: "m", Status: 200, TotalTokens: 10,
				Headers: `{"req":{"content-type":"application/json","user-agent":"Go-http-client/1.1"},"resp":{"apim-request-id":"1198fc38-47f2-4203-a937-5f44ac0e4345","x-request-id":"1198fc38-47f2-4203-a937-5f44ac0e4345"}}`}
		}
		if err := st.WriteBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
		n += len(batch)
	}
	queries := map[string]string{
		"count-1h": `MoatGatewayLogs | where TimeGenerated > ago(1h) and CallerId == "key:7" | count`,
		"top20":    `MoatGatewayLogs | where CallerId == "key:7" | top 20 by TimeGenerated desc`,
	}
	run := func(b *testing.B, q string) {
		for b.Loop() {
			if _, err := logquery.Run(ctx, st.DB(), kql.SQLite, q, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	}
	for name, q := range queries {
		b.Run("tail/"+name, func(b *testing.B) { run(b, q) })
	}
	if err := st.FlushRollup(ctx); err != nil {
		b.Fatal(err)
	}
	for name, q := range queries {
		b.Run("indexed/"+name, func(b *testing.B) { run(b, q) })
	}
}
