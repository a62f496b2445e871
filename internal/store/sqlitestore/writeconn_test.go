package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/storetest"
)

// TestWriteBatchOnNewConnection has database/sql replace the write pool's
// connection between batches, as it does with one it finds bad:
// the old connection's statements must close with it, and the new one must
// prepare its own and keep the batches idempotent across the two.
func TestWriteBatchOnNewConnection(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "moat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	conn := func() *writeConn {
		t.Helper()
		var got *writeConn
		if err := s.withWriteConn(ctx, func(c *writeConn) error { got = c; return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}

	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	first := storetest.Records(start, 100)
	if err := s.WriteBatch(ctx, first); err != nil {
		t.Fatalf("first WriteBatch: %v", err)
	}
	old := conn()

	// Any age is over a lifetime of 1ns: the pool closes the connection at
	// its next use and opens another.
	s.write.SetConnMaxLifetime(time.Nanosecond)
	second := append(storetest.Records(start.Add(time.Hour), 70), first...) // a replay of the first batch too
	for i := range 70 {
		second[i].RequestID += "-second"
	}
	if err := s.WriteBatch(ctx, second); err != nil {
		t.Fatalf("WriteBatch on a new connection: %v", err)
	}
	s.write.SetConnMaxLifetime(0)
	if cur := conn(); cur == old {
		t.Fatal("the write pool kept its connection; the test needs a new one")
	}
	if old.insert != nil || old.cinsert != nil || old.rollup != nil {
		t.Error("the closed connection kept its statements")
	}

	if err := s.FlushRollup(ctx); err != nil {
		t.Fatal(err)
	}
	var rows, calls int64
	if err := s.write.QueryRowContext(ctx, "SELECT count(*) FROM "+reqlog.SQLTable).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	grain := int64(reqlog.Grains()[0] / time.Second)
	if err := s.write.QueryRowContext(ctx, "SELECT sum(calls) FROM "+reqlog.RollupTable+" WHERE grain = ?", grain).Scan(&calls); err != nil {
		t.Fatal(err)
	}
	if rows != 170 || calls != 170 {
		t.Errorf("stored %d records counted %d times in the rollup, want 170 and 170", rows, calls)
	}
}
