package reqlog

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"testing"
	"time"
)

// TestCodecCoversEveryColumn: appendRecord, which names the first columns
// instead of walking Values, encodes exactly what the generic walk of
// Values encodes, for every column.
func TestCodecCoversEveryColumn(t *testing.T) {
	r := Record{Time: time.Date(2026, 12, 7, 1, 2, 3, 4, time.UTC)}
	// A distinct non-zero value in every field Values reads.
	for i, v := range r.ScanTargets()[1:] {
		switch p := v.(type) {
		case *string:
			*p = "v" + strconv.Itoa(i)
		case *int:
			*p = 1000 + i
		case *int64:
			*p = int64(100000 + i)
		case *float64:
			*p = float64(i) + 0.5
		case *bool:
			*p = true
		}
	}
	var want []byte
	want = append(want, codecVersion)
	vals := r.Values()
	want = binary.AppendUvarint(want, uint64(len(vals)))
	for _, v := range vals {
		want = appendValue(want, v)
	}
	if got := appendRecord(nil, &r); !bytes.Equal(got, want) {
		t.Fatalf("appendRecord differs from the walk of Values:\n got %q\nwant %q", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { appendRecord(make([]byte, 0, 1024), &r) }); n > 1 {
		t.Errorf("appendRecord allocates %v times", n)
	}
}
