package reqlog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moat-gw/moat/internal/reqlog/spool"
)

// Writer defaults, used for zero WriterOptions fields.
const (
	DefaultQueueSize     = 8192
	DefaultBatchSize     = 256
	DefaultFlushInterval = 200 * time.Millisecond
	DefaultMaxRetries    = 3
	DefaultRetryBackoff  = 100 * time.Millisecond
	DefaultWriteTimeout  = 10 * time.Second

	maxRetryBackoff = 5 * time.Second
	// dropReportEvery spaces the warnings about a full queue, so that an
	// overload is reported without flooding the log.
	dropReportEvery = 10 * time.Second
)

// WriterOptions tunes a Writer. Zero fields take the Default* values, so the
// zero WriterOptions is a sensible production setting.
type WriterOptions struct {
	// QueueSize bounds the records waiting to be written; when it is full,
	// Log drops the record rather than slow the request down.
	QueueSize int
	// BatchSize is the most records written in one Store.WriteBatch call.
	BatchSize int
	// FlushInterval bounds how long a record waits for a batch to fill.
	FlushInterval time.Duration
	// MaxRetries is how many times a failed batch is retried before it is
	// dropped; negative means never retry.
	MaxRetries int
	// RetryBackoff is the wait before the first retry; it doubles on each
	// further retry, up to five seconds.
	RetryBackoff time.Duration
	// WriteTimeout bounds one WriteBatch attempt, so a hung database cannot
	// stall the writer for ever.
	WriteTimeout time.Duration
	// SpoolDir, when set, makes the writer durable (see OpenWriter): a
	// directory of its own for the journal of records not yet stored.
	SpoolDir string
	// SpoolMaxBytes bounds the spool on disk (default 1 GiB). When it is
	// full, new records are dropped and counted; spooled ones are kept.
	SpoolMaxBytes int64
	// FsyncInterval is how often the spool is fsynced: what a power loss
	// can take from the journal. A killed process loses only what it had
	// not yet handed to the kernel.
	FsyncInterval time.Duration
	// OnBatch, if set, is called on the writer goroutine after each batch
	// with its final outcome (err is nil when it was written), so that the
	// caller can export write latency and batch sizes. It must be quick.
	OnBatch func(b BatchResult)
}

// BatchResult is the outcome of writing one batch, for OnBatch.
type BatchResult struct {
	Records  int           // records in the batch
	Attempts int           // WriteBatch calls made, retries included
	Took     time.Duration // from the first attempt to the outcome, backoff included
	Err      error         // the last error, nil when the batch was written
}

func (o WriterOptions) withDefaults() WriterOptions {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = DefaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = DefaultRetryBackoff
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.FsyncInterval <= 0 {
		o.FsyncInterval = DefaultFsyncInterval
	}
	return o
}

// WriterStats are a Writer's counters since it started, cumulative so that
// the caller can export them as metrics (counters and a gauge).
type WriterStats struct {
	Written       uint64 // records stored
	Dropped       uint64 // records refused by Log (queue full, writer closed) or by a full spool
	Failed        uint64 // records lost because their batch failed every attempt, or unreadable in the spool
	FailedBatches uint64 // batches given up after every attempt failed
	Retries       uint64 // batch attempts that were retried
	QueueLen      int    // records waiting now
	QueueCap      int    // the queue's bound (QueueSize)

	// With a spool (OpenWriter with SpoolDir):
	Spooled      uint64 // records journaled while the store was failing
	Replayed     uint64 // records stored after waiting out a store failure or a restart
	SpoolDropped uint64 // of Dropped, records the spool refused: full, or its disk failing
	SpoolBytes   int64  // the spool's size on disk now
	SpoolDamaged int    // spool segments found with a cut-off or corrupt tail
	Spooling     bool   // true while the store is failing and records wait in the spool
}

// Writer writes records to a Store in batches on a goroutine of its own, so
// that logging never adds database latency to a request. Made by NewWriter
// it trades completeness for availability: a full queue or a failing store
// loses records, and every loss is counted in Stats. Made by OpenWriter
// with a spool, a failing store loses nothing: records wait on disk.
type Writer struct {
	store  Store
	opts   WriterOptions
	logger *slog.Logger
	queue  chan Record

	mu     sync.RWMutex // held for reading by Log's send, for writing by Close
	closed bool

	stop      chan struct{} // closed by Close: drain the queue and exit
	abort     chan struct{} // closed when Close's context ends: give up writing
	done      chan struct{} // closed when the run goroutine has exited
	stopOnce  sync.Once
	abortOnce sync.Once

	written, dropped, failed, failedBatches, retries atomic.Uint64

	// The durable writer's state (OpenWriter); sp is nil without a spool.
	sp                              *spool.Spool
	journaled                       chan struct{} // closed when the journal has spooled its last record
	spooled, replayed, spoolDropped atomic.Uint64
	outage                          atomic.Bool
	outageMu                        sync.Mutex
	outageAt                        outageState
	hot                             hotRecords    // records just spooled, for send
	fromMemory                      atomic.Uint64 // fills served by hot (tests)
}

// NewWriter starts a Writer that writes to store until Close. The caller
// keeps ownership of store and closes it after Close returns. A nil logger
// discards the writer's warnings.
func NewWriter(store Store, opts WriterOptions, logger *slog.Logger) *Writer {
	opts = opts.withDefaults()
	ticker := time.NewTicker(opts.FlushInterval)
	return newWriter(store, opts, logger, ticker.C, ticker.Stop)
}

// newWriter is NewWriter with the flush clock as a parameter, for tests.
func newWriter(store Store, opts WriterOptions, logger *slog.Logger, tick <-chan time.Time, stopTick func()) *Writer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	w := &Writer{
		store:  store,
		opts:   opts,
		logger: logger,
		queue:  make(chan Record, opts.QueueSize),
		stop:   make(chan struct{}),
		abort:  make(chan struct{}),
		done:   make(chan struct{}),
	}
	go w.run(tick, stopTick)
	return w
}

// Log queues r for writing. It never blocks: when the queue is full, or the
// writer is closed, r is dropped and counted in Stats().Dropped. With a
// spool the queue drains to local disk, not to the store, so a slow or
// failing store never fills it.
func (w *Writer) Log(r Record) {
	w.mu.RLock()
	if !w.closed {
		select {
		case w.queue <- r:
			w.mu.RUnlock()
			return
		default:
		}
	}
	w.mu.RUnlock()
	w.dropped.Add(1)
}

// Stats returns the writer's counters; it is cheap enough to call on every
// metrics scrape.
func (w *Writer) Stats() WriterStats {
	st := WriterStats{
		Written:       w.written.Load(),
		Dropped:       w.dropped.Load(),
		Failed:        w.failed.Load(),
		FailedBatches: w.failedBatches.Load(),
		Retries:       w.retries.Load(),
		QueueLen:      len(w.queue),
		QueueCap:      cap(w.queue),
		Spooled:       w.spooled.Load(),
		Replayed:      w.replayed.Load(),
		SpoolDropped:  w.spoolDropped.Load(),
		Spooling:      w.outage.Load(),
	}
	if w.sp != nil {
		sp := w.sp.Stats()
		st.SpoolBytes, st.SpoolDamaged = sp.Bytes, sp.Damaged
	}
	return st
}

// Close stops accepting records, writes everything already queued and waits
// for that to finish. When ctx ends first, pending writes are abandoned
// (and counted as failed; with a spool, kept there for the next start) and
// Close returns ctx's error. With a spool, records the store does not take
// stay in the spool too, and Close returns nil. Close is safe to
// call more than once; it does not close the store.
func (w *Writer) Close(ctx context.Context) error {
	w.stopOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.stop)
	})
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.abortOnce.Do(func() { close(w.abort) })
		<-w.done
		return fmt.Errorf("close request log writer: %w", ctx.Err())
	}
}

// run is the writer goroutine: it fills a batch from the queue and writes
// it when it is full, when the flush clock ticks, and on Close.
func (w *Writer) run(tick <-chan time.Time, stopTick func()) {
	defer close(w.done)
	defer stopTick()
	ctx, cancel := w.abortContext()
	defer cancel()

	batch := make([]Record, 0, w.opts.BatchSize)
	var drops dropReport
	add := func(r Record) {
		batch = append(batch, r)
		if len(batch) >= w.opts.BatchSize {
			batch = w.flush(ctx, batch)
		}
	}
	for {
		select {
		case r := <-w.queue:
			add(r)
		case <-tick:
			// Take what is queued now too: it has waited as long as the
			// batch may have. Only this goroutine receives, so n are there.
			for n := len(w.queue); n > 0; n-- {
				add(<-w.queue)
			}
			batch = w.flush(ctx, batch)
			w.reportDrops(&drops, false)
		case <-w.stop:
			// Close holds Log out, so what is queued now is all there is.
			for drained := false; !drained; {
				select {
				case r := <-w.queue:
					add(r)
				default:
					drained = true
				}
			}
			w.flush(ctx, batch)
			w.reportDrops(&drops, true)
			return
		}
	}
}

// flush writes batch, retrying with backoff, and returns it emptied for
// reuse. Store.WriteBatch must not keep the slice.
func (w *Writer) flush(ctx context.Context, batch []Record) []Record {
	if len(batch) == 0 {
		return batch
	}
	res := w.write(ctx, batch)
	n := uint64(res.Records)
	if res.Err == nil {
		w.written.Add(n)
	} else {
		w.failed.Add(n)
		w.failedBatches.Add(1)
		w.logger.Warn("request log batch dropped",
			"records", n, "attempts", res.Attempts, "err", res.Err)
	}
	if w.opts.OnBatch != nil {
		w.opts.OnBatch(res)
	}
	clear(batch) // let the strings go before the slice is refilled
	return batch[:0]
}

// write makes up to 1+MaxRetries attempts at writing batch, and gives up
// early when ctx ends.
func (w *Writer) write(ctx context.Context, batch []Record) BatchResult {
	start := time.Now()
	backoff := w.opts.RetryBackoff
	res := BatchResult{Records: len(batch)}
	for {
		res.Err = ctx.Err()
		if res.Err != nil {
			break
		}
		res.Attempts++
		actx, cancel := context.WithTimeout(ctx, w.opts.WriteTimeout)
		res.Err = w.store.WriteBatch(actx, batch)
		cancel()
		if res.Err == nil || res.Attempts > w.opts.MaxRetries || ctx.Err() != nil {
			break
		}
		w.retries.Add(1)
		w.logger.Debug("request log batch failed; retrying",
			"records", len(batch), "attempt", res.Attempts, "backoff", backoff, "err", res.Err)
		sleep(ctx, backoff) // if ctx ends, the next pass gives up
		backoff = min(2*backoff, maxRetryBackoff)
	}
	res.Took = time.Since(start)
	return res
}

// dropReport remembers what reportDrops last said.
type dropReport struct {
	count uint64    // Dropped at the last warning
	at    time.Time // when it was given
}

// reportDrops warns when Log has dropped records since the last warning, at
// most every dropReportEvery unless final.
func (w *Writer) reportDrops(last *dropReport, final bool) {
	dropped := w.dropped.Load()
	if dropped == last.count {
		return
	}
	now := time.Now()
	if !final && now.Sub(last.at) < dropReportEvery {
		return
	}
	w.logger.Warn("request log queue full; records dropped",
		"dropped", dropped-last.count, "dropped_total", dropped, "queue_size", w.opts.QueueSize)
	*last = dropReport{count: dropped, at: now}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// abortContext returns a context that ends when Close's context does
// (w.abort), so a store write in progress is given up, or when cancel runs.
func (w *Writer) abortContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-w.abort:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
