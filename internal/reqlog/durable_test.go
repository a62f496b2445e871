package reqlog_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/reqlog/spool"
	"github.com/moat-gw/moat/internal/store/storetest"
)

// flaky wraps a real store: while down it refuses every batch, and it can
// write a number of batches and then report failure, as when the commit
// reached the database but its acknowledgement was lost.
type flaky struct {
	reqlog.Store
	down    atomic.Bool
	ackLost atomic.Int32
	calls   atomic.Int32
}

var errDown = errors.New("store down")

func (f *flaky) WriteBatch(ctx context.Context, recs []reqlog.Record) error {
	f.calls.Add(1)
	if f.down.Load() {
		return errDown
	}
	if err := f.Store.WriteBatch(ctx, recs); err != nil {
		return err
	}
	if f.ackLost.Add(-1) >= 0 {
		return errors.New("connection reset after commit")
	}
	return nil
}

// syncBuffer is a bytes.Buffer for a logger used from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor polls cond until it holds; the deadline only keeps a broken
// writer from hanging the test, it is not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

func openDurable(t *testing.T, store reqlog.Store, dir string, opts reqlog.WriterOptions, logger *slog.Logger, flush chan time.Time) *reqlog.Writer {
	t.Helper()
	opts.SpoolDir = dir
	if opts.RetryBackoff == 0 {
		opts.RetryBackoff = time.Millisecond
	}
	w, err := reqlog.OpenWriterWithTicks(store, opts, logger, flush, nil)
	if err != nil {
		t.Fatalf("OpenWriter: %v", err)
	}
	return w
}

// TestDurableWriterOutage takes the store down while records are logged:
// nothing is dropped, the records wait in the spool, and they reach the
// store in order, once each, when it is back; the log says when spooling
// began and ended.
func TestDurableWriterOutage(t *testing.T) {
	logs := &syncBuffer{}
	f := &flaky{Store: newSQLite(t)}
	flush := make(chan time.Time)
	w := openDurable(t, f, t.TempDir(), reqlog.WriterOptions{BatchSize: 50}, slog.New(slog.NewTextHandler(logs, nil)), flush)
	recs := storetest.Records(time.Now(), 1000)

	for _, r := range recs[:100] {
		w.Log(r)
	}
	waitFor(t, "the first records to be stored", func() bool { return w.Stats().Written == 100 })
	f.down.Store(true)
	for _, r := range recs[100:900] {
		w.Log(r)
	}
	waitFor(t, "the writer to see the outage", func() bool { return w.Stats().Spooling })
	f.down.Store(false)
	for _, r := range recs[900:] {
		w.Log(r)
	}
	flush <- time.Now() // the partial last batch
	waitFor(t, "the spool to be replayed", func() bool { st := w.Stats(); return st.Written == 1000 && !st.Spooling })
	closeWriter(t, w)

	if diff := cmp.Diff(requestIDs(recs), stored(t, f)); diff != "" {
		t.Errorf("stored records (-want +got):\n%s", diff)
	}
	st := w.Stats()
	if st.Dropped != 0 || st.Failed != 0 || st.Replayed == 0 || st.Replayed > 900 || st.Spooled == 0 || st.Spooled > 900 {
		t.Errorf("Stats = %+v, want nothing lost and the records of the outage spooled and replayed", st)
	}
	out := logs.String()
	for _, line := range []string{"request log store failing; spooling records", "request log spool replayed"} {
		if !strings.Contains(out, line) {
			t.Errorf("log lacks %q:\n%s", line, out)
		}
	}
}

// TestDurableWriterRestart closes a writer while its store is down: the
// records stay in the spool, and the next writer on the same directory
// stores them, in order, before anything new.
func TestDurableWriterRestart(t *testing.T) {
	dir := t.TempDir()
	store := newSQLite(t)
	down := &flaky{Store: store}
	down.down.Store(true)
	w := openDurable(t, down, dir, reqlog.WriterOptions{BatchSize: 64}, nil, nil)
	recs := storetest.Records(time.Now(), 300)
	for _, r := range recs[:250] {
		w.Log(r)
	}
	closeWriter(t, w)
	if n := len(stored(t, store)); n != 0 {
		t.Fatalf("%d records stored while the store was down", n)
	}
	if st := w.Stats(); st.Dropped != 0 || st.Failed != 0 || st.SpoolBytes == 0 {
		t.Fatalf("Stats after Close = %+v, want nothing lost and the spool holding the records", st)
	}

	w = openDurable(t, store, dir, reqlog.WriterOptions{BatchSize: 64}, nil, nil)
	for _, r := range recs[250:] {
		w.Log(r)
	}
	closeWriter(t, w)
	if diff := cmp.Diff(requestIDs(recs), stored(t, store)); diff != "" {
		t.Errorf("stored records (-want +got):\n%s", diff)
	}
	if st := w.Stats(); st.Replayed < 250 || st.Written != 300 {
		t.Errorf("Stats after the restart = %+v, want the 250 earlier records replayed", st)
	}
}

// TestDurableWriterLostAck has the store commit batches but report
// failure: the writer writes them again, and the idempotent store keeps
// one copy.
func TestDurableWriterLostAck(t *testing.T) {
	f := &flaky{Store: newSQLite(t)}
	f.ackLost.Store(3)
	w := openDurable(t, f, t.TempDir(), reqlog.WriterOptions{BatchSize: 10}, nil, nil)
	recs := storetest.Records(time.Now(), 50)
	for _, r := range recs {
		w.Log(r)
	}
	waitFor(t, "every batch to be acknowledged", func() bool { return w.Stats().Written == 50 })
	closeWriter(t, w)
	if diff := cmp.Diff(requestIDs(recs), stored(t, f)); diff != "" {
		t.Errorf("stored records (-want +got):\n%s", diff)
	}
	if c := f.calls.Load(); c < 8 {
		t.Errorf("%d WriteBatch calls, want the three failed ones again", c)
	}
}

// TestDurableWriterSpoolFull logs more than the spool holds while the store
// is down: the newest records are dropped and counted, the oldest kept and
// stored by the next writer once the store is back.
func TestDurableWriterSpoolFull(t *testing.T) {
	dir, store := t.TempDir(), newSQLite(t)
	f := &flaky{Store: store}
	f.down.Store(true)
	opts := reqlog.WriterOptions{BatchSize: 100, SpoolMaxBytes: 64 << 10}
	w := openDurable(t, f, dir, opts, nil, nil)
	recs := storetest.Records(time.Now(), 500)
	for i := range recs {
		recs[i].RequestBody = strings.Repeat("x", 500) // about 0.8 KB a record: 500 do not fit
		w.Log(recs[i])
	}
	closeWriter(t, w)
	st := w.Stats()
	if st.Dropped == 0 || st.SpoolDropped != st.Dropped || st.SpoolBytes > opts.SpoolMaxBytes {
		t.Fatalf("Stats = %+v, want records dropped by the %d-byte spool", st, opts.SpoolMaxBytes)
	}

	w = openDurable(t, store, dir, opts, nil, nil)
	closeWriter(t, w)
	if diff := cmp.Diff(requestIDs(recs[:len(recs)-int(st.Dropped)]), stored(t, store)); diff != "" {
		t.Errorf("stored records are not the oldest %d (-want +got):\n%s", len(recs)-int(st.Dropped), diff)
	}
}

// BenchmarkJournal is the durable writer's added work per record on its
// journal goroutine: encoding and appending to the spool in groups of 64,
// as a steady load queues them, with an fsync every 100 groups.
func BenchmarkJournal(b *testing.B) {
	sp, err := spool.Open(b.TempDir(), spool.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	recs := storetest.Records(time.Now(), 64)
	payloads := make([][]byte, len(recs))
	b.ReportAllocs()
	n := 0
	var pos spool.Pos = sp.Start()
	for b.Loop() {
		for i := range recs {
			payloads[i] = reqlog.EncodeRecord(payloads[i][:0], &recs[i])
		}
		if _, err := sp.Append(payloads); err != nil {
			b.Fatal(err)
		}
		if n++; n%100 == 0 {
			if err := sp.Sync(); err != nil {
				b.Fatal(err)
			}
			// Read back and commit, as the sender does, so the spool stays small.
			for {
				got, next, err := sp.ReadFrom(pos, 256)
				if err != nil {
					b.Fatal(err)
				}
				for _, p := range got {
					if _, err := reqlog.DecodeRecord(p); err != nil {
						b.Fatal(err)
					}
				}
				pos = next
				if len(got) == 0 {
					break
				}
			}
			if err := sp.Commit(pos); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}

// capture keeps every record a store is given, in order, and does not
// write them.
type capture struct {
	reqlog.Store
	mu   sync.Mutex
	recs []reqlog.Record
}

func (c *capture) WriteBatch(_ context.Context, recs []reqlog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, recs...)
	return nil
}

// TestDurableWriterFromMemory: a sender keeping up with the journal takes
// the records it has just spooled from memory, and the store gets exactly
// what it would have read back from the spool: every record once, in
// order, equal to its spool round trip, across many segment rotations (a
// 512 KiB spool has 128 KiB segments, 15 rotations here), with the store
// slow now and then.
func TestDurableWriterFromMemory(t *testing.T) {
	c := &capture{Store: newSQLite(t)}
	slow := &slowStore{Store: c}
	flush := make(chan time.Time)
	w := openDurable(t, slow, t.TempDir(), reqlog.WriterOptions{BatchSize: 32, SpoolMaxBytes: 512 << 10}, nil, flush)
	recs := storetest.Records(time.Now(), 3000)
	for i := range recs {
		recs[i].Headers = strings.Repeat("h", i%700) // varied sizes
	}
	for i, r := range recs {
		if i%500 == 250 {
			slow.delay.Store(int64(20 * time.Millisecond))
		} else if i%500 == 0 {
			slow.delay.Store(0)
		}
		w.Log(r)
		if i%250 == 249 { // keep the spool within its bound: nothing dropped
			waitFor(t, "the store to catch up", func() bool { return w.Stats().Written+uint64(2*32) > uint64(i) })
		}
	}
	slow.delay.Store(0)
	closeWriter(t, w)

	want := make([]reqlog.Record, len(recs))
	for i := range recs {
		var err error
		if want[i], err = reqlog.DecodeRecord(reqlog.EncodeRecord(nil, &recs[i])); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(want, c.recs); diff != "" {
		t.Errorf("stored records (-want +got):\n%s", diff)
	}
	if st := w.Stats(); st.Dropped != 0 || st.Failed != 0 || st.Written != uint64(len(recs)) {
		t.Errorf("Stats = %+v, want every record written", st)
	}
	if w.FromMemory() == 0 {
		t.Error("no record was taken from memory")
	}
}

// slowStore delays every batch by delay nanoseconds.
type slowStore struct {
	reqlog.Store
	delay atomic.Int64
}

func (s *slowStore) WriteBatch(ctx context.Context, recs []reqlog.Record) error {
	time.Sleep(time.Duration(s.delay.Load()))
	return s.Store.WriteBatch(ctx, recs)
}

// BenchmarkDurableWriter: the time and allocations of one record through a
// durable writer (queue, journal, spool, sender) to a store that costs
// nothing. Logging waits for the writer every 1,024 records, so none is
// dropped and every record takes the whole path.
func BenchmarkDurableWriter(b *testing.B) {
	w, err := reqlog.OpenWriter(discard{}, reqlog.WriterOptions{SpoolDir: b.TempDir()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	recs := storetest.Records(time.Now(), 1024)
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		w.Log(recs[i%uint64(len(recs))])
		if i++; i%1024 == 0 {
			for w.Stats().Written+1024 < i {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	if st := w.Stats(); st.Dropped != 0 {
		b.Fatalf("%d records dropped", st.Dropped)
	}
}
