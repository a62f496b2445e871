package reqlog

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/reqlog/spool"
)

// TestHotRecordsTake: the sender gets a held record only when it is the
// next one in the spool; otherwise it reads the spool.
func TestHotRecordsTake(t *testing.T) {
	rec := func(id string, seq uint64, start, end int64) hotRecord {
		return hotRecord{rec: Record{RequestID: id}, start: spool.Pos{Seq: seq, Off: start}, end: spool.Pos{Seq: seq, Off: end}, size: 100}
	}
	// a, b, c fill segment 1; d opens segment 2 (starts past its header).
	all := []hotRecord{rec("a", 1, 8, 20), rec("b", 1, 20, 30), rec("c", 1, 30, 45), rec("d", 2, 8, 16), rec("e", 2, 16, 30)}
	pos := func(seq uint64, off int64) spool.Pos { return spool.Pos{Seq: seq, Off: off} }
	tests := []struct {
		name     string
		max      int // bytes held
		next     spool.Pos
		batchMax int
		want     []string
		wantNext spool.Pos
	}{
		{"caught up: all, across the rotation", 0, pos(1, 8), 10, []string{"a", "b", "c", "d", "e"}, pos(2, 30)},
		{"up to the batch size", 0, pos(1, 8), 2, []string{"a", "b"}, pos(1, 30)},
		{"already read from the spool up to b", 0, pos(1, 30), 10, []string{"c", "d", "e"}, pos(2, 30)},
		{"read past the rotation", 0, pos(2, 16), 10, []string{"e"}, pos(2, 30)},
		{"behind what is held: read the spool", 0, pos(0, 99), 10, nil, pos(0, 99)},
		{"the first record has no known predecessor", 0, spool.Pos{}, 10, nil, spool.Pos{}},
		{"a, b let go: the spool gives them", 3 * (100 + hotEntrySize), pos(1, 8), 10, nil, pos(1, 8)},
		{"a, b let go, b read from the spool", 3 * (100 + hotEntrySize), pos(1, 30), 10, []string{"c", "d", "e"}, pos(2, 30)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hotRecords{max: tt.max}
			for _, r := range all {
				h.push(r)
			}
			var batch []Record
			next := h.take(&batch, tt.next, tt.batchMax)
			var got []string
			for _, r := range batch {
				got = append(got, r.RequestID)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || next != tt.wantNext {
				t.Errorf("took (-want +got):\n%s next = %v, want %v", diff, next, tt.wantNext)
			}
		})
	}
}

// TestHotRecordsKeepsSmallArray: a sender keeping up empties the queue at
// every batch and the next records reuse its array; the array a backlog
// grew past hotKeepCap is let go once emptied.
func TestHotRecordsKeepsSmallArray(t *testing.T) {
	for _, tt := range []struct {
		records  int
		wantKept bool
	}{{256, true}, {hotKeepCap + 1, false}} {
		h := &hotRecords{max: 1 << 40}
		for i := range tt.records {
			off := int64(8 + 10*i)
			h.push(hotRecord{start: spool.Pos{Seq: 1, Off: off}, end: spool.Pos{Seq: 1, Off: off + 10}})
		}
		var batch []Record
		if next := h.take(&batch, spool.Pos{Seq: 1, Off: 8}, tt.records); len(batch) != tt.records || h.head != 0 || len(h.q) != 0 {
			t.Fatalf("%d records: took %d, next %v, %d left", tt.records, len(batch), next, len(h.q)-h.head)
		}
		if kept := cap(h.q) > 0; kept != tt.wantKept {
			t.Errorf("%d records: array kept = %v (cap %d), want %v", tt.records, kept, cap(h.q), tt.wantKept)
		}
	}
}
