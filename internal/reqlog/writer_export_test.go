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

// OpenWriterWithTicks is OpenWriter with flush and fsync clocks that the
// test drives.
func OpenWriterWithTicks(store Store, opts WriterOptions, logger *slog.Logger, flush, fsync <-chan time.Time) (*Writer, error) {
	return openWriter(store, opts, logger, flush, fsync, func() {})
}

// EncodeRecord and DecodeRecord are the spool codec.
var (
	EncodeRecord = appendRecord
	DecodeRecord = decodeRecord
)

// FromMemory counts the sender's fills served by records held in memory
// (hotRecords) rather than read back from the spool.
func (w *Writer) FromMemory() uint64 { return w.fromMemory.Load() }
