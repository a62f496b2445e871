package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Defaults for zero Options fields.
const (
	DefaultMaxBytes = 1 << 30 // 1 GiB
	// maxSegmentBytes caps one segment; smaller spools use a quarter of
	// MaxBytes, so that committed records waiting in the segment being
	// written (deleted only when it is full) hold at most a quarter of it.
	maxSegmentBytes = 4 << 20
	minMaxBytes     = 64 << 10
	readChunk       = 1 << 20
	segmentExt      = ".seg"
)

// Options bounds a Spool.
type Options struct {
	// MaxBytes bounds the segment files together. An Append that would
	// pass it drops the records that do not fit (the newest), and the
	// caller counts them.
	MaxBytes int64
}

// Pos is a place in the spool: a segment's number and a byte offset in it.
// ReadFrom returns the Pos after what it read; Commit takes it back.
type Pos struct {
	Seq uint64
	Off int64
}

// Stats describe a Spool now.
type Stats struct {
	Bytes    int64 // segment files on disk, committed records not yet deleted included
	Segments int
	// Damaged counts segments whose tail was cut off or corrupt (a crash
	// mid-write, a damaged disk), found at Open or when reading; the
	// records in DamagedBytes were skipped.
	Damaged      int
	DamagedBytes int64
}

// segment is one file. size is how much of it is valid: what was found
// at Open for old segments, what has been written for the active one.
type segment struct {
	seq  uint64
	size int64
	r    *os.File // opened by the reader on first use
}

// Spool is a directory of segments. Append and Sync may be called from
// any goroutine; ReadFrom and Commit belong to one reader goroutine.
type Spool struct {
	dir      string
	maxBytes int64
	segBytes int64
	unlock   func()

	syncMu sync.Mutex // serializes Sync and Close

	mu       sync.Mutex
	segs     []*segment // by seq; the last is active
	active   *os.File
	retired  []*os.File // written, rotated out, not yet synced and closed
	dirty    bool       // active has unsynced writes
	dirDirty bool       // a segment was created or removed since the last Sync
	total    int64
	damaged  int
	damagedB int64
	buf      []byte
	closed   bool

	appended chan struct{}

	// cursor is the COMMIT file: where the last Commit left off, so that
	// a restart replays only what was not committed. It is written, not
	// synced: if a power loss takes it, more is replayed, nothing lost.
	cursor *os.File
	start  Pos
}

// Open opens or creates the spool in dir, checks every segment left by an
// earlier run (which the reader then replays) and starts a new segment for
// appends. Only one process may hold a spool: Open fails if another has it.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	opts.MaxBytes = max(opts.MaxBytes, minMaxBytes)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", dir, err)
	}
	s := &Spool{dir: dir, maxBytes: opts.MaxBytes, segBytes: min(maxSegmentBytes, opts.MaxBytes/4),
		unlock: unlock, appended: make(chan struct{}, 1)}
	if err := s.load(); err != nil {
		unlock()
		return nil, err
	}
	if err := s.loadCursor(); err != nil {
		unlock()
		return nil, err
	}
	if err := s.rotate(); err != nil {
		s.cursor.Close()
		unlock()
		return nil, err
	}
	if len(s.segs) == 1 || s.start.Seq == 0 {
		s.start = Pos{Seq: s.segs[0].seq, Off: int64(headerSize)}
	}
	return s, nil
}

// loadCursor reads the COMMIT file and drops the segments wholly before
// it. A missing or damaged cursor means replaying every segment.
func (s *Spool) loadCursor() error {
	f, err := os.OpenFile(filepath.Join(s.dir, "COMMIT"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open spool: %w", err)
	}
	s.cursor = f
	var b [cursorSize]byte
	if n, _ := f.ReadAt(b[:], 0); n < cursorSize {
		return nil
	}
	p, ok := decodeCursor(b[:])
	if !ok {
		return nil
	}
	for len(s.segs) > 0 && s.segs[0].seq < p.Seq {
		path := s.path(s.segs[0].seq)
		if fi, err := os.Stat(path); err == nil {
			s.total -= fi.Size()
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("open spool: %w", err)
		}
		s.segs = s.segs[1:]
	}
	if len(s.segs) > 0 && s.segs[0].seq == p.Seq && p.Off >= int64(headerSize) && p.Off <= s.segs[0].size {
		s.start = p
	}
	return nil
}

// load scans the segments an earlier run left, keeping their valid prefix
// and removing those with nothing in them.
func (s *Spool) load() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("open spool: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentExt)
		seq, err := strconv.ParseUint(name, 10, 64)
		if !ok || err != nil || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(s.path(seq))
		if err != nil {
			return fmt.Errorf("open spool: %w", err)
		}
		recs, valid, damaged := DecodeSegment(b)
		if damaged {
			s.damaged++
			s.damagedB += int64(len(b) - valid)
		}
		if len(recs) == 0 {
			if err := os.Remove(s.path(seq)); err != nil {
				return fmt.Errorf("open spool: %w", err)
			}
			continue
		}
		s.segs = append(s.segs, &segment{seq: seq, size: int64(valid)})
		s.total += int64(len(b))
	}
	slices.SortFunc(s.segs, func(a, b *segment) int { return cmpSeq(a.seq, b.seq) })
	return nil
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *Spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, segmentExt))
}

// rotate starts a new active segment; s.mu is held or s is not shared yet.
func (s *Spool) rotate() error {
	var seq uint64 = 1
	if n := len(s.segs); n > 0 {
		seq = s.segs[n-1].seq + 1
	}
	f, err := os.OpenFile(s.path(seq), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("spool: new segment: %w", err)
	}
	if _, err := f.WriteAt([]byte(magic), 0); err != nil {
		f.Close()
		os.Remove(s.path(seq))
		return fmt.Errorf("spool: new segment: %w", err)
	}
	if s.active != nil {
		s.retired = append(s.retired, s.active)
	}
	s.active, s.dirty, s.dirDirty = f, true, true
	s.segs = append(s.segs, &segment{seq: seq, size: int64(headerSize)})
	s.total += int64(headerSize)
	return nil
}

// Appended is signalled (without blocking, at most one pending) after an
// Append has written records, so a reader can wait for them.
func (s *Spool) Appended() <-chan struct{} { return s.appended }

// Append writes payloads, in order, to the active segment with as few
// writes as it can, and returns how many it wrote. Records that would take
// the spool past MaxBytes are dropped: the newest go first, and what is
// already spooled is never overwritten. Nothing is durable until Sync,
// but once Append returns it survives the process being killed.
func (s *Spool) Append(payloads [][]byte) (int, error) { return s.AppendAt(payloads, nil) }

// AppendAt is Append that also calls at, in order, for each payload
// written: its index in payloads and where its frame starts and ends, so a
// reader holding the record in memory can tell when ReadFrom would return
// it next (ReadFrom(start) returns it and end).
func (s *Spool) AppendAt(payloads [][]byte, at func(i int, start, end Pos)) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errors.New("spool: closed")
	}
	act := s.segs[len(s.segs)-1]
	buf, written, pending := s.buf[:0], 0, 0
	type span struct {
		i   int
		off int64 // in buf
		n   int64
	}
	var spans []span // of the pending frames, when at is set
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		// WriteAt the known end: a failed, partial write is overwritten
		// by the next one rather than left as garbage mid-segment.
		if _, err := s.active.WriteAt(buf, act.size); err != nil {
			return fmt.Errorf("spool: write: %w", err)
		}
		for _, sp := range spans {
			at(sp.i, Pos{act.seq, act.size + sp.off}, Pos{act.seq, act.size + sp.off + sp.n})
		}
		act.size += int64(len(buf))
		s.total += int64(len(buf))
		s.dirty = true
		written += pending
		buf, pending, spans = buf[:0], 0, spans[:0]
		return nil
	}
	var err error
	for i, p := range payloads {
		fs := frameSize(len(p))
		if len(p) > MaxRecord || s.total+int64(len(buf))+fs > s.maxBytes {
			continue
		}
		if act.size+int64(len(buf))+fs > s.segBytes && act.size+int64(len(buf)) > int64(headerSize) {
			if err = flush(); err != nil {
				break
			}
			if err = s.rotate(); err != nil {
				break
			}
			act = s.segs[len(s.segs)-1]
			if s.total+fs > s.maxBytes {
				continue
			}
		}
		if at != nil {
			spans = append(spans, span{i, int64(len(buf)), fs})
		}
		buf = appendFrame(buf, p)
		pending++
	}
	if err == nil {
		err = flush()
	}
	s.buf = buf[:0]
	if cap(s.buf) > 4*readChunk {
		s.buf = nil // one huge batch should not pin its buffer
	}
	if written > 0 {
		select {
		case s.appended <- struct{}{}:
		default:
		}
	}
	return written, err
}

// Sync makes everything appended so far durable: it fsyncs the segments
// written since the last Sync and, when segments were created or removed,
// the directory.
func (s *Spool) Sync() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	return s.sync()
}

func (s *Spool) sync() error {
	s.mu.Lock()
	retired := s.retired
	s.retired = nil
	active := s.active
	if !s.dirty {
		active = nil
	}
	dir := s.dirDirty
	s.dirty, s.dirDirty = false, false
	s.mu.Unlock()

	var errs []error
	for _, f := range retired {
		errs = append(errs, f.Sync(), f.Close())
	}
	if active != nil {
		errs = append(errs, active.Sync())
	}
	if dir {
		errs = append(errs, syncDir(s.dir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spool: sync: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Stats returns the spool's size and damage counts.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Bytes: s.total, Segments: len(s.segs), Damaged: s.damaged, DamagedBytes: s.damagedB}
}

// Close syncs and closes the spool. What has not been committed stays on
// disk for the next Open.
func (s *Spool) Close() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	err := s.sync()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return err
	}
	s.closed = true
	errs := []error{err, s.active.Close(), s.cursor.Close()}
	for _, seg := range s.segs {
		if seg.r != nil {
			errs = append(errs, seg.r.Close())
		}
	}
	s.unlock()
	return errors.Join(errs...)
}

// Before reports whether p comes before q in the spool.
func (p Pos) Before(q Pos) bool {
	return p.Seq < q.Seq || p.Seq == q.Seq && p.Off < q.Off
}
