package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/reqlog"
)

// TestWriterOptions: every log setting the writer takes reaches it.
func TestWriterOptions(t *testing.T) {
	l := Log{QueueSize: 7, BatchSize: 3, FlushInterval: Duration(2 * time.Second), SpoolDir: "/spool",
		SpoolMaxBytes: 1 << 20, SpoolFsyncInterval: Duration(time.Second)}
	want := reqlog.WriterOptions{QueueSize: 7, BatchSize: 3, FlushInterval: 2 * time.Second, SpoolDir: "/spool",
		SpoolMaxBytes: 1 << 20, FsyncInterval: time.Second}
	if diff := cmp.Diff(want, l.WriterOptions()); diff != "" {
		t.Errorf("WriterOptions (-want +got):\n%s", diff)
	}
}
