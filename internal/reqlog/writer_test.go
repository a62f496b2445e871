package reqlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/sqlitestore"
	"github.com/moat-gw/moat/internal/store/storetest"
)

// probe wraps a real store to watch and steer the writer: it records batch
// sizes, can fail a number of calls, and can hold calls at a gate.
type probe struct {
	reqlog.Store
	fail    int           // fail this many calls before passing them on
	entered chan struct{} // if set, receives once per call on entry
	gate    chan struct{} // if set, calls wait until it is closed (or ctx ends)

	mu    sync.Mutex
	sizes []int
}

var errInjected = errors.New("injected failure")

func (p *probe) WriteBatch(ctx context.Context, recs []reqlog.Record) error {
	if p.entered != nil {
		p.entered <- struct{}{}
	}
	if p.gate != nil {
		select {
		case <-p.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	p.sizes = append(p.sizes, len(recs))
	fail := p.fail > 0
	if fail {
		p.fail--
	}
	p.mu.Unlock()
	if fail {
		return errInjected
	}
	return p.Store.WriteBatch(ctx, recs)
}

func (p *probe) batchSizes() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.sizes...)
}

// newSQLite opens a real store in a temporary folder.
func newSQLite(tb testing.TB) *sqlitestore.Store {
	tb.Helper()
	s, err := sqlitestore.Open(context.Background(), filepath.Join(tb.TempDir(), "log.db"), nil)
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// stored returns the RequestIDs in the store, in id order.
func stored(t *testing.T, s reqlog.Store) []string {
	t.Helper()
	recs, err := s.After(context.Background(), 0, math.MaxInt32)
	if err != nil {
		t.Fatalf("After: %v", err)
	}
	ids := []string{}
	for _, r := range recs {
		ids = append(ids, r.RequestID)
	}
	return ids
}

func requestIDs(recs []reqlog.Record) []string {
	ids := []string{}
	for _, r := range recs {
		ids = append(ids, r.RequestID)
	}
	return ids
}

func closeWriter(t *testing.T, w *reqlog.Writer) {
	t.Helper()
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestWriterBatches(t *testing.T) {
	tests := []struct {
		name      string
		batchSize int
		records   int
		want      []int // batch sizes: full batches while logging, the rest on Close
	}{
		{"full batches then the rest on close", 10, 25, []int{10, 10, 5}},
		{"exact batches", 5, 15, []int{5, 5, 5}},
		{"all on close", 256, 7, []int{7}},
		{"nothing logged", 10, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &probe{Store: newSQLite(t)}
			w := reqlog.NewWriterWithTick(p, reqlog.WriterOptions{BatchSize: tt.batchSize}, nil, nil)
			recs := storetest.Records(time.Now(), tt.records)
			for _, r := range recs {
				w.Log(r)
			}
			closeWriter(t, w)
			if diff := cmp.Diff(tt.want, p.batchSizes()); diff != "" {
				t.Errorf("batch sizes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(requestIDs(recs), stored(t, p)); diff != "" {
				t.Errorf("stored records (-want +got):\n%s", diff)
			}
			if got := w.Stats(); got.Written != uint64(tt.records) || got.Dropped != 0 || got.Failed != 0 {
				t.Errorf("Stats = %+v, want %d written and nothing lost", got, tt.records)
			}
		})
	}
}

func TestWriterFlushesOnTick(t *testing.T) {
	p := &probe{Store: newSQLite(t), entered: make(chan struct{}, 1)}
	tick := make(chan time.Time)
	w := reqlog.NewWriterWithTick(p, reqlog.WriterOptions{BatchSize: 100}, nil, tick)
	recs := storetest.Records(time.Now(), 3)
	for _, r := range recs {
		w.Log(r)
	}
	tick <- time.Now()
	<-p.entered // the tick's flush has begun, with what was queued
	closeWriter(t, w)
	if diff := cmp.Diff([]int{3}, p.batchSizes()); diff != "" {
		t.Errorf("batch sizes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(requestIDs(recs), stored(t, p)); diff != "" {
		t.Errorf("stored records (-want +got):\n%s", diff)
	}
}

func TestWriterDropsWhenFull(t *testing.T) {
	p := &probe{Store: newSQLite(t), entered: make(chan struct{}, 16), gate: make(chan struct{})}
	w := reqlog.NewWriterWithTick(p, reqlog.WriterOptions{QueueSize: 4, BatchSize: 1}, nil, nil)
	recs := storetest.Records(time.Now(), 8)

	w.Log(recs[0])
	<-p.entered // the writer holds recs[0] at the gate; the queue is empty
	for _, r := range recs[1:] {
		w.Log(r) // four fit, three are dropped
	}
	if got := w.Stats(); got.Dropped != 3 || got.QueueLen != 4 || got.QueueCap != 4 {
		t.Errorf("Stats while blocked = %+v, want 3 dropped, 4 queued of 4", got)
	}
	close(p.gate)
	closeWriter(t, w)
	w.Log(recs[0]) // after Close: dropped too, never a panic

	if diff := cmp.Diff(requestIDs(recs[:5]), stored(t, p)); diff != "" {
		t.Errorf("stored records (-want +got):\n%s", diff)
	}
	want := reqlog.WriterStats{Written: 5, Dropped: 4, QueueCap: 4}
	if diff := cmp.Diff(want, w.Stats()); diff != "" {
		t.Errorf("Stats after Close (-want +got):\n%s", diff)
	}
}

func TestWriterRetries(t *testing.T) {
	tests := []struct {
		name       string
		fail       int
		maxRetries int
		want       reqlog.WriterStats
		wantStored int
		wantWarn   bool
		wantBatch  reqlog.BatchResult // Took is not compared
	}{
		{"recovers within retries", 2, 3, reqlog.WriterStats{Written: 4, Retries: 2}, 4, false,
			reqlog.BatchResult{Records: 4, Attempts: 3}},
		{"gives up after retries", 10, 2, reqlog.WriterStats{Failed: 4, FailedBatches: 1, Retries: 2}, 0, true,
			reqlog.BatchResult{Records: 4, Attempts: 3, Err: errInjected}},
		{"no retries", 1, -1, reqlog.WriterStats{Failed: 4, FailedBatches: 1}, 0, true,
			reqlog.BatchResult{Records: 4, Attempts: 1, Err: errInjected}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			p := &probe{Store: newSQLite(t), fail: tt.fail}
			var results []reqlog.BatchResult
			opts := reqlog.WriterOptions{BatchSize: 4, MaxRetries: tt.maxRetries, RetryBackoff: time.Nanosecond,
				OnBatch: func(b reqlog.BatchResult) { b.Took = 0; results = append(results, b) }}
			w := reqlog.NewWriterWithTick(p, opts, logger, nil)
			recs := storetest.Records(time.Now(), 4)
			recs[0].ErrorMessage = "private detail"
			for _, r := range recs {
				w.Log(r)
			}
			closeWriter(t, w)
			want := tt.want
			want.QueueCap = reqlog.DefaultQueueSize
			if diff := cmp.Diff(want, w.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]reqlog.BatchResult{tt.wantBatch}, results, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("OnBatch results (-want +got):\n%s", diff)
			}
			if got := len(stored(t, p)); got != tt.wantStored {
				t.Errorf("stored %d records, want %d", got, tt.wantStored)
			}
			out := logs.String()
			if got := strings.Contains(out, "request log batch dropped"); got != tt.wantWarn {
				t.Errorf("warned = %v, want %v; log:\n%s", got, tt.wantWarn, out)
			}
			if strings.Contains(out, "private detail") {
				t.Errorf("log reveals record contents:\n%s", out)
			}
		})
	}
}

func TestWriterCloseDeadline(t *testing.T) {
	p := &probe{Store: newSQLite(t), entered: make(chan struct{}, 16), gate: make(chan struct{})}
	w := reqlog.NewWriterWithTick(p, reqlog.WriterOptions{BatchSize: 2}, nil, nil)
	for _, r := range storetest.Records(time.Now(), 5) {
		w.Log(r)
	}
	<-p.entered // the first batch is stuck at the gate, which never opens
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want context.Canceled", err)
	}
	if got := w.Stats(); got.Written != 0 || got.Failed != 5 || got.FailedBatches != 3 {
		t.Errorf("Stats = %+v, want all 5 failed in 3 batches", got)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestWriterConcurrent(t *testing.T) {
	s := newSQLite(t)
	w := reqlog.NewWriter(s, reqlog.WriterOptions{QueueSize: 64, BatchSize: 16, FlushInterval: time.Millisecond}, nil)
	const loggers, each = 8, 250
	var wg sync.WaitGroup
	for g := range loggers {
		wg.Go(func() {
			recs := storetest.Records(time.Now(), each)
			for i, r := range recs {
				r.RequestID = fmt.Sprintf("g%d-%d", g, i)
				w.Log(r)
				if i%50 == 0 {
					_ = w.Stats()
				}
			}
		})
	}
	wg.Wait()
	closeWriter(t, w)
	st := w.Stats()
	if st.Written+st.Dropped != loggers*each {
		t.Errorf("written %d + dropped %d != logged %d", st.Written, st.Dropped, loggers*each)
	}
	if got := uint64(len(stored(t, s))); got != st.Written {
		t.Errorf("store holds %d records, Stats.Written = %d", got, st.Written)
	}
}

// discard is a store that keeps nothing, so that a benchmark measures the
// writer's queue rather than a database.
type discard struct{ reqlog.Store }

func (discard) WriteBatch(context.Context, []reqlog.Record) error { return nil }

// BenchmarkLog measures the request path's cost: one non-blocking enqueue.
// With "sqlite" the benchmark outruns the real store and most records take
// the drop path; with "discard" most are queued and written. Log's cost is
// reported either way, with the share dropped.
func BenchmarkLog(b *testing.B) {
	for _, bm := range []struct {
		name  string
		store func(testing.TB) reqlog.Store
	}{
		{"discard", func(testing.TB) reqlog.Store { return discard{} }},
		{"sqlite", func(tb testing.TB) reqlog.Store { return newSQLite(tb) }},
	} {
		b.Run(bm.name, func(b *testing.B) {
			w := reqlog.NewWriter(bm.store(b), reqlog.WriterOptions{}, nil)
			rec := storetest.Records(time.Now(), 1)[0]
			b.ReportAllocs()
			for b.Loop() {
				w.Log(rec)
			}
			b.StopTimer()
			w.Close(context.Background())
			b.ReportMetric(float64(w.Stats().Dropped)/float64(b.N), "dropped/op")
		})
		b.Run(bm.name+"/parallel", func(b *testing.B) {
			w := reqlog.NewWriter(bm.store(b), reqlog.WriterOptions{}, nil)
			rec := storetest.Records(time.Now(), 1)[0]
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					w.Log(rec)
				}
			})
			b.StopTimer()
			w.Close(context.Background())
			b.ReportMetric(float64(w.Stats().Dropped)/float64(b.N), "dropped/op")
		})
	}
}
