package sqlitestore

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/storetest"
)

// TestWriteConnBindsDirectly fails when the write connection no longer
// reaches the driver's handle (connHandle), as a driver upgrade that
// renamed its fields would make it: the store would still work, through
// the driver, at a third more CPU per record.
func TestWriteConnBindsDirectly(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "moat.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.withWriteConn(ctx, func(c *writeConn) error {
		if !c.direct || c.cinsert == nil || c.insert != nil {
			t.Errorf("write connection: direct %v, cinsert %v, driver insert %v; want the insert on the handle", c.direct, c.cinsert != nil, c.insert != nil)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestCInsertValues writes the values binding could get wrong through the
// handle and through the driver, and wants the same bytes and SQLite types
// in every column, and the records back as written. The batch takes three
// statement sizes (64, 4 and 2 rows) and a text block larger than the one
// kept; the next batch must bring the block back under it.
func TestCInsertValues(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 12, 8, 9, 0, 0, 123456000, time.UTC)
	recs := storetest.Records(start, 70)
	recs[0].RequestBody = strings.Repeat("body ", blockKeep/5+1000) // past blockKeep
	recs[1].ErrorMessage = "a NUL\x00inside"
	recs[2].Headers = `{"req":{"user-agent":"ünïcødé ✓ 🦀"}}`
	recs[3].Caller, recs[3].RequestID, recs[3].Model = "", "", "" // empty text, not NULL
	recs[4].TotalMs, recs[4].FirstTokenMs = math.NaN(), math.Inf(1)
	recs[5].RequestBytes, recs[5].PromptTokens = 1<<53+1, -1 // past a float64
	recs[6].ResponseBody = string([]byte{0xff, 0xfe, 'x'})   // not UTF-8: kept as bytes
	recs[7].TokensEstimated, recs[7].Streamed = true, true
	recs[69].Cost = 1e-300

	dump := func(s *Store) [][]string {
		t.Helper()
		var sel []string
		for _, c := range reqlog.Columns() {
			sel = append(sel, "typeof("+c.SQL+")", "hex(CAST("+c.SQL+" AS BLOB))")
		}
		rows, err := s.read.QueryContext(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM "+reqlog.SQLTable+" ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out [][]string
		for rows.Next() {
			row := make([]string, len(sel))
			dst := make([]any, len(sel))
			for i := range row {
				dst[i] = &row[i]
			}
			if err := rows.Scan(dst...); err != nil {
				t.Fatal(err)
			}
			out = append(out, row)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}

	direct, err := Open(ctx, filepath.Join(t.TempDir(), "direct.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })
	viaDriver, err := OpenBindingThroughDriver(ctx, filepath.Join(t.TempDir(), "driver.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { viaDriver.Close() })
	for _, s := range []*Store{direct, viaDriver} {
		if err := s.WriteBatch(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	if err := direct.withWriteConn(ctx, func(c *writeConn) error {
		if c.cinsert.blockSize > blockKeep {
			t.Errorf("text block of %d bytes kept after the chunk that needed it, want at most %d", c.cinsert.blockSize, blockKeep)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, want := dump(direct), dump(viaDriver)
	if len(got) != len(recs) {
		t.Fatalf("stored %d rows through the handle, want %d", len(got), len(recs))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows through the handle differ from those through the driver (-driver +handle):\n%s", diff)
	}

	back, err := direct.After(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	wantBack := make([]reqlog.Record, len(recs))
	for i, r := range recs {
		r.Time = r.Time.Truncate(time.Microsecond)
		if math.IsNaN(r.TotalMs) {
			r.TotalMs = 0 // as notNaN stores it
		}
		wantBack[i] = r
	}
	for i := range back {
		back[i].ID = 0
	}
	if diff := cmp.Diff(wantBack, back); diff != "" {
		t.Errorf("records read back (-written +read):\n%s", diff)
	}

	// The next chunk is small: the block of the large one goes.
	more := storetest.Records(start.Add(time.Hour), 3)
	for i := range more {
		more[i].RequestID += "-more"
	}
	if err := direct.WriteBatch(ctx, more); err != nil {
		t.Fatal(err)
	}
	if err := direct.withWriteConn(ctx, func(c *writeConn) error {
		if c.cinsert.blockSize > blockKeep {
			t.Errorf("text block of %d bytes kept after a small chunk, want at most %d", c.cinsert.blockSize, blockKeep)
		}
		if cap(c.cinsert.text) > blockKeep {
			t.Errorf("text buffer of %d bytes kept, want at most %d", cap(c.cinsert.text), blockKeep)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := len(dump(direct)); n != len(recs)+len(more) {
		t.Errorf("stored %d rows after the second batch, want %d", n, len(recs)+len(more))
	}
}

// TestCInsertStepError has SQLite fail a chunk's run (a trigger aborts the
// insert of one record): the batch fails with SQLite's message and leaves
// nothing, the statement runs again for the next batch, on the handle as
// through the driver.
func TestCInsertStepError(t *testing.T) {
	ctx := context.Background()
	for _, bind := range []struct {
		name string
		open func(context.Context, string) (*Store, error)
	}{
		{"handle", func(ctx context.Context, path string) (*Store, error) { return Open(ctx, path, nil) }},
		{"driver", OpenBindingThroughDriver},
	} {
		t.Run(bind.name, func(t *testing.T) {
			s, err := bind.open(ctx, filepath.Join(t.TempDir(), "moat.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if err := s.withWriteConn(ctx, func(c *writeConn) error {
				_, err := c.ExecContext(ctx, "CREATE TEMP TRIGGER refuse BEFORE INSERT ON "+reqlog.SQLTable+
					" WHEN new.caller = 'refused' BEGIN SELECT RAISE(ABORT, 'caller refused by the test'); END", nil)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			start := time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)
			bad := storetest.Records(start, 70)
			bad[66].Caller = "refused" // in the second chunk
			err = s.WriteBatch(ctx, bad)
			if err == nil || !strings.Contains(err.Error(), "caller refused by the test") {
				t.Fatalf("WriteBatch with a refused record: %v, want SQLite's message", err)
			}
			count := func() int {
				t.Helper()
				var n int
				if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM "+reqlog.SQLTable).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := count(); n != 0 {
				t.Fatalf("%d rows stored by the failed batch, want 0", n)
			}
			good := storetest.Records(start, 70)
			if err := s.WriteBatch(ctx, good); err != nil {
				t.Fatalf("WriteBatch after the failure: %v", err)
			}
			if n := count(); n != 70 {
				t.Fatalf("%d rows stored, want 70", n)
			}
		})
	}
}
