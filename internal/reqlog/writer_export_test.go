package reqlog

import (
	"log/slog"
	"time"
)

// NewWriterWithTick is NewWriter with a flush clock that the test drives,
// so that no test waits for real time to pass.
func NewWriterWithTick(store Store, opts WriterOptions, logger *slog.Logger, tick <-chan time.Time) *Writer {
	return newWriter(store, opts, logger, tick, func() {})
}
