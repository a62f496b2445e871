package reqlog

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// JSONLines copies the request log, one JSON object per line, to stdout or
// a file, for the SIEM an enterprise already runs (Splunk, Sentinel via the
// Azure Monitor agent, Elastic, Fluent Bit tail). Keys are the KQL column
// names (TimeGenerated, CorrelationId, CallerId, ...), the names an Azure
// Monitor user already queries. Like Writer, it never blocks a call: a full
// queue drops the record and counts it.
type JSONLines struct {
	ch      chan Record
	out     io.WriteCloser
	log     *slog.Logger
	quit    chan struct{}
	done    chan struct{}
	written atomic.Int64
	dropped atomic.Int64
	failed  atomic.Int64
}

// KQLObject is r keyed by the KQL column names, times in RFC 3339 UTC: the
// shape of a JSON-lines record, here and in `moat logs tail -o json`.
func (r *Record) KQLObject() map[string]any {
	cols := columns
	obj := make(map[string]any, len(cols))
	for i, v := range r.Values() {
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(time.RFC3339Nano)
		}
		obj[cols[i].KQL] = v
	}
	return obj
}

// OpenJSONLinesFile opens path for appending ("-" is stdout). Appending
// suits logrotate's copytruncate and a collector tailing the file.
func OpenJSONLinesFile(path string) (io.WriteCloser, error) {
	if path == "-" {
		return nopCloser{os.Stdout}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open request log copy: %w", err)
	}
	return f, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// NewJSONLines starts writing records given to Log to out.
func NewJSONLines(out io.WriteCloser, queueSize int, logger *slog.Logger) *JSONLines {
	if queueSize < 1 {
		queueSize = 8192
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	j := &JSONLines{ch: make(chan Record, queueSize), out: out, log: logger, quit: make(chan struct{}), done: make(chan struct{})}
	go j.run()
	return j
}

// Log queues r; it never blocks.
func (j *JSONLines) Log(r Record) {
	select {
	case j.ch <- r:
	default:
		j.dropped.Add(1)
	}
}

// JSONLinesStats are the copy's counters.
type JSONLinesStats struct{ Written, Dropped, Failed int64 }

// Stats reports what was written and what was lost.
func (j *JSONLines) Stats() JSONLinesStats {
	return JSONLinesStats{Written: j.written.Load(), Dropped: j.dropped.Load(), Failed: j.failed.Load()}
}

// Close writes what is queued and closes the output, or gives up when ctx ends.
func (j *JSONLines) Close(ctx context.Context) error {
	close(j.quit)
	select {
	case <-j.done:
	case <-ctx.Done():
		return fmt.Errorf("request log copy: %w", ctx.Err())
	}
	return j.out.Close()
}

func (j *JSONLines) run() {
	defer close(j.done)
	bw := bufio.NewWriterSize(j.out, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	write := func(r Record) {
		if err := enc.Encode(r.KQLObject()); err != nil {
			j.failed.Add(1)
			return
		}
		j.written.Add(1)
	}
	flush := func() {
		if err := bw.Flush(); err != nil {
			j.log.Error("request log copy: write failed", "err", err)
		}
	}
	for {
		select {
		case r := <-j.ch:
			write(r)
			if len(j.ch) == 0 {
				flush() // a SIEM tailing the file sees each call promptly
			}
		case <-j.quit:
			for {
				select {
				case r := <-j.ch:
					write(r)
				default:
					flush()
					return
				}
			}
		}
	}
}
