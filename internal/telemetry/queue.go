package telemetry

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// spanQueue is the span processor: a bounded queue in front of the OTLP
// exporter, drained in batches by one goroutine. It stands in for the SDK's
// BatchSpanProcessor, which can drop spans without saying how many (or block
// the caller); here OnEnd never blocks, and every span lost is counted.
type spanQueue struct {
	exp       sdktrace.SpanExporter
	queue     chan sdktrace.ReadOnlySpan
	flush     chan chan struct{}
	stop      chan struct{}
	done      chan struct{}
	ctx       context.Context // canceled when Shutdown runs out of time, to abort an export
	cancel    context.CancelFunc
	batchSize int
	interval  time.Duration
	timeout   time.Duration
	errs      *errorLog
	stopOnce  sync.Once
	stopped   atomic.Bool

	exported, dropped, failed atomic.Uint64
}

const maxBatch = 512

func newSpanQueue(exp sdktrace.SpanExporter, size int, interval, timeout time.Duration, errs *errorLog) *spanQueue {
	ctx, cancel := context.WithCancel(context.Background())
	q := &spanQueue{exp: exp, queue: make(chan sdktrace.ReadOnlySpan, size), flush: make(chan chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{}), ctx: ctx, cancel: cancel,
		batchSize: min(size, maxBatch), interval: interval, timeout: timeout, errs: errs}
	go q.run()
	return q
}

// OnStart does nothing: spans are handed over when they end.
func (q *spanQueue) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues a sampled span, or drops and counts it when the queue is full.
func (q *spanQueue) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	if q.stopped.Load() {
		q.dropped.Add(1)
		return
	}
	select {
	case q.queue <- s:
	default:
		q.dropped.Add(1)
	}
}

func (q *spanQueue) run() {
	defer close(q.done)
	tick := time.NewTicker(q.interval)
	defer tick.Stop()
	batch := make([]sdktrace.ReadOnlySpan, 0, q.batchSize)
	send := func() {
		if len(batch) > 0 {
			q.export(batch)
			clear(batch)
			batch = batch[:0]
		}
	}
	// drain moves what is queued now into batches and sends them.
	drain := func() {
		for {
			select {
			case s := <-q.queue:
				if batch = append(batch, s); len(batch) == q.batchSize {
					send()
				}
			default:
				send()
				return
			}
		}
	}
	for {
		select {
		case s := <-q.queue:
			if batch = append(batch, s); len(batch) == q.batchSize {
				send()
			}
		case <-tick.C:
			send()
		case ack := <-q.flush:
			drain()
			close(ack)
		case <-q.stop:
			drain()
			return
		}
	}
}

func (q *spanQueue) export(batch []sdktrace.ReadOnlySpan) {
	ctx, cancel := context.WithTimeout(q.ctx, q.timeout)
	defer cancel()
	if err := q.exp.ExportSpans(ctx, batch); err != nil {
		q.failed.Add(uint64(len(batch)))
		q.errs.report(&q.errs.traces, "traces", err)
		return
	}
	q.exported.Add(uint64(len(batch)))
}

// ForceFlush exports every span queued before it was called.
func (q *spanQueue) ForceFlush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case q.flush <- ack:
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown exports what is queued, within ctx; when ctx ends first, the
// export in flight is abandoned and the rest counted as failed.
func (q *spanQueue) Shutdown(ctx context.Context) error {
	var err error
	q.stopOnce.Do(func() {
		q.stopped.Store(true)
		close(q.stop)
		select {
		case <-q.done:
		case <-ctx.Done():
			q.cancel()
			<-q.done // the export in flight returns once its context is canceled
			err = ctx.Err()
		}
		q.cancel()
		if e := q.exp.Shutdown(ctx); err == nil {
			err = e
		}
	})
	return err
}

// metricExporter counts and logs failed metric exports itself, so they reach
// moat's logger instead of the OpenTelemetry global error handler.
// Metrics are cumulative, so the next export carries what a failed one lost.
type metricExporter struct {
	sdkmetric.Exporter
	errs *errorLog
}

func (e *metricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	if err := e.Exporter.Export(ctx, rm); err != nil {
		e.errs.report(&e.errs.metrics, "metrics", err)
	}
	return nil
}

// errorLog counts export failures and logs them at most once per signal per
// period, so a collector that is down does not flood moat's log.
type errorLog struct {
	log             *slog.Logger
	every           time.Duration
	traces, metrics atomic.Uint64

	mu   sync.Mutex
	last map[string]time.Time
	seen map[string]uint64 // failures already logged, per signal
}

func newErrorLog(l *slog.Logger, every time.Duration) *errorLog {
	return &errorLog{log: l, every: every, last: map[string]time.Time{}, seen: map[string]uint64{}}
}

func (l *errorLog) report(counter *atomic.Uint64, signal string, err error) {
	n := counter.Add(1)
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.last[signal]) < l.every {
		l.mu.Unlock()
		return
	}
	l.last[signal] = now
	since := n - l.seen[signal]
	l.seen[signal] = n
	l.mu.Unlock()
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	l.log.Warn("opentelemetry export failed; telemetry is being lost, calls are not affected",
		"signal", signal, "err", msg, "failures", since)
}
