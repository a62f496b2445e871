package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// TestRetention: records of the UTC days older than log.retention are
// deleted at start; the day that log.retention reaches into is kept whole.
func TestRetention(t *testing.T) {
	clk := newClock()
	ts := startServerOpts(t, "log: {retention: 7d}", Options{Now: clk.Now})
	// Write an old and a fresh record straight to the store, then restart
	// moat on the same data dir: the retention pass runs at start.
	old := reqlog.Record{Time: clk.Now().Add(-8 * 24 * time.Hour), RequestID: "old"}
	fresh := reqlog.Record{Time: clk.Now().Add(-time.Hour), RequestID: "fresh"}
	day := clk.Now().Add(-7 * 24 * time.Hour).UTC().Truncate(24 * time.Hour)
	dayBefore := reqlog.Record{Time: day.Add(-time.Microsecond), RequestID: "day-before"}
	dayStart := reqlog.Record{Time: day, RequestID: "day-start"}
	if err := ts.Store().WriteBatch(context.Background(), []reqlog.Record{old, dayBefore, dayStart, fresh}); err != nil {
		t.Fatal(err)
	}
	cfg := ts.cfg.Load()
	ts.stop()
	srv, err := New(context.Background(), cfg, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs, err := srv.Store().After(context.Background(), 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 2 && recs[0].RequestID == "day-start" && recs[1].RequestID == "fresh" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention did not run: %d records", len(recs))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
