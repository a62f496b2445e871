package reqlog

import (
	"cmp"
	"sync"
	"unsafe"

	"github.com/moat-gw/moat/internal/reqlog/spool"
)

// hotMaxBytes bounds what the records hotRecords holds take: their encoded
// size plus the Record struct each sits in. Past it the oldest are let go:
// they are still in the spool, where the sender reads them as it did
// before there was a hot path.
const hotMaxBytes = 4 << 20

// hotEntrySize is what a held record costs besides its encoded size.
const hotEntrySize = int(unsafe.Sizeof(hotRecord{}))

// hotRecords hands the sender the records the journal has just spooled,
// as they were logged, so that a sender keeping up with the journal (the
// usual case) neither reads them back from the spool file nor decodes
// them: that was a sixth of the request log's CPU and a tenth of all the
// bytes the gateway allocated per call. The spool stays the record of
// truth: the sender takes a hot record only when it is the very next one
// the spool would give it, so order, commits and replays are unchanged.
type hotRecords struct {
	max     int // hotMaxBytes; tests set less
	mu      sync.Mutex
	q       []hotRecord
	head    int       // q[head:] are held
	bytes   int       // what they take (hotRecord.size)
	prevEnd spool.Pos // where the last pushed record ends in the spool
}

type hotRecord struct {
	rec        Record
	prevEnd    spool.Pos // the end of the record spooled just before it
	start, end spool.Pos
	size       int // encoded size plus hotEntrySize
}

// push adds a record the journal has spooled; records come in spool order.
func (h *hotRecords) push(r hotRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.prevEnd, h.prevEnd = h.prevEnd, r.end
	r.size += hotEntrySize
	h.q = append(h.q, r)
	h.bytes += r.size
	for h.bytes > cmp.Or(h.max, hotMaxBytes) && h.head < len(h.q) {
		h.drop()
	}
	h.compact()
}

// take appends to batch, up to max records, the hot records that follow
// next in the spool, and returns the position after the last one taken
// (next when it took none). Records the sender has read from the spool
// already are let go.
func (h *hotRecords) take(batch *[]Record, next spool.Pos, max int) spool.Pos {
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.head < len(h.q) && !next.Before(h.q[h.head].end) {
		h.drop()
	}
	for len(*batch) < max && h.head < len(h.q) {
		r := &h.q[h.head]
		// The record that follows next: it starts there, or the one
		// spooled before it ends there (it opens a new segment). The
		// first record pushed has no known predecessor.
		if r.start != next && (r.prevEnd != next || r.prevEnd == spool.Pos{}) {
			break
		}
		*batch = append(*batch, r.rec)
		next = r.end
		h.drop()
	}
	h.compact()
	return next
}

func (h *hotRecords) drop() {
	h.bytes -= h.q[h.head].size
	h.q[h.head] = hotRecord{}
	h.head++
}

// hotKeepCap is the largest array of q kept once nothing is held (4,096
// entries of 584 bytes): a sender keeping up empties q at every batch and
// reuses it, however far the journal's groups of up to 1,024 records ran
// ahead, while the larger array a backlog (a store outage) grew is let go.
const hotKeepCap = 4096

// compact moves what is held to the front once most of q is let go, so q
// does not grow without bound, and lets a large array go once nothing is
// held (hotKeepCap).
func (h *hotRecords) compact() {
	if h.head == len(h.q) {
		if cap(h.q) > hotKeepCap {
			h.q = nil
		}
		h.q, h.head = h.q[:0], 0
		return
	}
	if h.head > 0 && h.head >= len(h.q)/2 {
		n := copy(h.q, h.q[h.head:])
		clear(h.q[n:])
		h.q, h.head = h.q[:n], 0
	}
}
