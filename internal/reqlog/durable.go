package reqlog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/moat-gw/moat/internal/reqlog/spool"
)

// Durable writer defaults.
const (
	DefaultFsyncInterval = 100 * time.Millisecond
	// maxOutageBackoff caps the wait between attempts while the store is
	// failing: records are safe in the spool, so the only cost of waiting
	// is how late the replay starts once the store is back.
	maxOutageBackoff = 2 * time.Second
	// journalBatch bounds the records encoded into one spool append.
	journalBatch = 1024
)

// OpenWriter starts a Writer. With opts.SpoolDir set the writer is durable:
// each record is journaled to a spool there (one write per group of queued
// records, an fsync every FsyncInterval) before it is written to the store,
// and leaves the spool only once the store has committed it. A store that
// is slow, down or refusing makes records wait in the spool, never in
// memory, and they are replayed in order when it is back; records left by
// an earlier run (a crash, or a shutdown with the store down) are replayed
// first. Stores must make WriteBatch idempotent on (Time, RequestID): a
// replay after a crash rewrites records the store already has. Without
// SpoolDir it is NewWriter.
func OpenWriter(store Store, opts WriterOptions, logger *slog.Logger) (*Writer, error) {
	opts = opts.withDefaults()
	if opts.SpoolDir == "" {
		return NewWriter(store, opts, logger), nil
	}
	flush, fsync := time.NewTicker(opts.FlushInterval), time.NewTicker(opts.FsyncInterval)
	w, err := openWriter(store, opts, logger, flush.C, fsync.C, func() { flush.Stop(); fsync.Stop() })
	if err != nil {
		flush.Stop()
		fsync.Stop()
	}
	return w, err
}

// openWriter is OpenWriter with the clocks as parameters, for tests.
func openWriter(store Store, opts WriterOptions, logger *slog.Logger, flushTick, fsyncTick <-chan time.Time, stopTicks func()) (*Writer, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	sp, err := spool.Open(opts.SpoolDir, spool.Options{MaxBytes: opts.SpoolMaxBytes})
	if err != nil {
		return nil, fmt.Errorf("request log: %w", err)
	}
	w := &Writer{
		store: store, opts: opts, logger: logger, sp: sp,
		queue:     make(chan Record, opts.QueueSize),
		stop:      make(chan struct{}),
		abort:     make(chan struct{}),
		done:      make(chan struct{}),
		journaled: make(chan struct{}),
	}
	if st := sp.Stats(); st.Damaged > 0 {
		logger.Warn("request log spool had damaged records; skipped them",
			"dir", opts.SpoolDir, "segments", st.Damaged, "bytes", st.DamagedBytes)
	}
	start := sp.Start()
	if recs, _, _ := sp.ReadFrom(start, 1); len(recs) > 0 {
		logger.Info("request log spool holds records from an earlier run; replaying them",
			"dir", opts.SpoolDir, "bytes", sp.Stats().Bytes)
		w.beginOutage(nil)
	}
	var wg sync.WaitGroup
	wg.Go(func() { w.journal(fsyncTick) })
	wg.Go(func() { w.send(start, flushTick) })
	go func() {
		wg.Wait()
		stopTicks()
		if err := sp.Close(); err != nil {
			logger.Warn("request log spool not closed cleanly", "err", err)
		}
		close(w.done)
	}()
	return w, nil
}

// journal is the goroutine that moves queued records into the spool and
// syncs it on the fsync clock. It only ever waits for the local disk.
func (w *Writer) journal(fsyncTick <-chan time.Time) {
	defer close(w.journaled)
	batch := make([]Record, 0, journalBatch)
	var buf []byte
	var ends []int
	var payloads [][]byte
	var warned time.Time // the last spool write failure logged
	// Each record goes to the hot path as it is written, before Append
	// wakes the sender, which then finds it there.
	spooled := func(i int, start, end spool.Pos) {
		r := batch[i]
		r.Time = r.Time.UTC().Round(0) // as decodeRecord gives it
		w.hot.push(hotRecord{rec: r, start: start, end: end, size: len(payloads[i])})
	}
	appendBatch := func() {
		buf, ends, payloads = buf[:0], ends[:0], payloads[:0]
		for i := range batch {
			buf = appendRecord(buf, &batch[i])
			ends = append(ends, len(buf))
		}
		prev := 0
		for _, end := range ends {
			payloads = append(payloads, buf[prev:end])
			prev = end
		}
		n, err := w.sp.AppendAt(payloads, spooled)
		if lost := len(batch) - n; lost > 0 {
			w.dropped.Add(uint64(lost))
			w.spoolDropped.Add(uint64(lost))
		}
		if err != nil && time.Since(warned) >= dropReportEvery {
			// A full or failing disk fails every append: say so, not flood.
			w.logger.Warn("request log spool write failed; records dropped", "err", err)
			warned = time.Now()
		}
		if w.outage.Load() {
			w.spooled.Add(uint64(n))
		}
		clear(batch)
		batch = batch[:0]
	}
	var drops dropReport
	syncSpool := func(final bool) {
		if err := w.sp.Sync(); err != nil {
			w.logger.Warn("request log spool sync failed", "err", err)
		}
		w.reportDrops(&drops, final)
	}
	for {
		select {
		case r := <-w.queue:
			batch = append(batch, r)
			for n := len(w.queue); n > 0 && len(batch) < journalBatch; n-- {
				batch = append(batch, <-w.queue)
			}
			appendBatch()
		case <-fsyncTick:
			syncSpool(false)
		case <-w.stop:
			// Close holds Log out, so what is queued now is all there is.
			for drained := false; !drained; {
				select {
				case r := <-w.queue:
					batch = append(batch, r)
					if len(batch) == journalBatch {
						appendBatch()
					}
				default:
					drained = true
				}
			}
			appendBatch()
			syncSpool(true)
			return
		}
	}
}

// send is the goroutine that reads the spool from start in order, writes
// full batches (or what there is when the flush clock ticks) to the store,
// and commits each batch in the spool once the store has it. A failing
// store is retried with backoff for as long as it fails: nothing is
// dropped, the spool grows. After Close it writes what is left while the
// store takes it, and leaves the rest in the spool for the next start.
func (w *Writer) send(start spool.Pos, flushTick <-chan time.Time) {
	ctx, cancel := w.abortContext()
	defer cancel()
	var (
		batch     = make([]Record, 0, w.opts.BatchSize)
		next      = start
		flushDue  bool
		stopping  bool
		journaled = w.journaled
		backoff   = w.opts.RetryBackoff
	)
	for ctx.Err() == nil {
		if len(batch) < w.opts.BatchSize {
			next = w.fill(&batch, next)
		}
		if len(batch) > 0 && (len(batch) >= w.opts.BatchSize || flushDue || stopping) {
			if err := w.writeSpooled(ctx, batch, next); err != nil {
				if stopping {
					break
				}
				w.retries.Add(1)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-journaled: // Close: one more attempt, then give up
					stopping, journaled = true, nil
				case <-ctx.Done():
				}
				t.Stop()
				backoff = min(2*backoff, maxOutageBackoff)
				continue
			}
			backoff = w.opts.RetryBackoff
			clear(batch)
			batch, flushDue = batch[:0], false
			continue
		}
		if len(batch) == 0 {
			flushDue = false
			if w.outage.Load() {
				w.endOutage()
			}
			if stopping {
				break
			}
		}
		select {
		case <-flushTick:
			flushDue = true
		case <-w.sp.Appended():
		case <-journaled:
			stopping, journaled = true, nil
		case <-ctx.Done():
		}
	}
	if n := len(batch); n > 0 || w.outage.Load() {
		w.logger.Warn("request log store unavailable at shutdown; records left in the spool for the next start",
			"dir", w.opts.SpoolDir, "spool_bytes", w.sp.Stats().Bytes)
	}
}

// fill reads spooled records from next into batch, up to BatchSize, and
// returns the position after them: from memory when the journal has just
// spooled them (hotRecords), else from the spool. A record that does not
// decode is counted as failed and skipped.
func (w *Writer) fill(batch *[]Record, next spool.Pos) spool.Pos {
	if p := w.hot.take(batch, next, w.opts.BatchSize); p != next {
		w.fromMemory.Add(1)
		next = p
	}
	if len(*batch) >= w.opts.BatchSize {
		return next
	}
	payloads, p, err := w.sp.ReadFrom(next, w.opts.BatchSize-len(*batch))
	if err != nil {
		w.logger.Warn("request log spool read failed", "err", err)
		return next
	}
	for _, b := range payloads {
		r, err := decodeRecord(b)
		if err != nil {
			w.failed.Add(1)
			w.logger.Warn("request log spool record skipped", "err", err)
			continue
		}
		*batch = append(*batch, r)
	}
	return p
}

// writeSpooled makes one attempt at writing batch, which ends at next in
// the spool, and commits it there when the store has it.
func (w *Writer) writeSpooled(ctx context.Context, batch []Record, next spool.Pos) error {
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, w.opts.WriteTimeout)
	err := w.store.WriteBatch(actx, batch)
	cancel()
	res := BatchResult{Records: len(batch), Attempts: 1, Took: time.Since(start), Err: err}
	if w.opts.OnBatch != nil {
		w.opts.OnBatch(res)
	}
	if err != nil {
		w.beginOutage(err)
		return err
	}
	n := uint64(len(batch))
	w.written.Add(n)
	if w.outage.Load() {
		w.replayed.Add(n)
	}
	if err := w.sp.Commit(next); err != nil {
		w.logger.Warn("request log spool segment not deleted; will retry", "err", err)
	}
	return nil
}

// outageState is what the log lines about one store outage report.
type outageState struct {
	since             time.Time
	spooled, replayed uint64 // the counters when it began
	dropped, attempts uint64
}

// beginOutage marks the store failing (err nil: records from an earlier
// run are being replayed) and says so once per outage.
func (w *Writer) beginOutage(err error) {
	if w.outage.Swap(true) {
		return
	}
	w.outageMu.Lock()
	w.outageAt = outageState{since: time.Now(), spooled: w.spooled.Load(), replayed: w.replayed.Load(),
		dropped: w.dropped.Load(), attempts: w.retries.Load()}
	w.outageMu.Unlock()
	if err != nil {
		w.logger.Warn("request log store failing; spooling records until it is back",
			"err", err, "spool_dir", w.opts.SpoolDir)
	}
}

// endOutage marks the spool caught up and reports what the outage cost.
func (w *Writer) endOutage() {
	w.outage.Store(false)
	w.outageMu.Lock()
	o := w.outageAt
	w.outageMu.Unlock()
	w.logger.Info("request log spool replayed; store writes caught up",
		"spooled", w.spooled.Load()-o.spooled, "replayed", w.replayed.Load()-o.replayed,
		"dropped", w.dropped.Load()-o.dropped, "failed_attempts", w.retries.Load()-o.attempts,
		"took", time.Since(o.since).Round(time.Millisecond))
}
