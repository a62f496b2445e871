package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
)

// cursorSize is the COMMIT file: a Pos and a CRC-32C of it.
const cursorSize = 20

func encodeCursor(p Pos) []byte {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, cursorSize), p.Seq)
	b = binary.LittleEndian.AppendUint64(b, uint64(p.Off))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeCursor(b []byte) (Pos, bool) {
	if len(b) < cursorSize || crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		return Pos{}, false
	}
	return Pos{Seq: binary.LittleEndian.Uint64(b), Off: int64(binary.LittleEndian.Uint64(b[8:]))}, true
}

// Start is the position of the oldest record not yet committed: where the
// last run's final Commit left off, or the start of the oldest segment.
func (s *Spool) Start() Pos {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.start
}

// ReadFrom returns up to max records from p on, in append order, and the
// position after the last one. It returns no records when the reader has
// caught up with Append. The payloads are the caller's. A damaged stretch
// is skipped to the end of its segment and counted in Stats.
func (s *Spool) ReadFrom(p Pos, max int) ([][]byte, Pos, error) {
	var out [][]byte
	for len(out) < max {
		s.mu.Lock()
		seg, sealed := s.segmentAt(&p)
		if seg == nil || s.closed {
			s.mu.Unlock()
			return out, p, nil
		}
		limit := seg.size
		s.mu.Unlock()

		if p.Off >= limit {
			if !sealed {
				return out, p, nil
			}
			p = Pos{Seq: seg.seq + 1, Off: int64(headerSize)}
			continue
		}
		recs, n, err := s.readSegment(seg, p.Off, limit, max-len(out))
		if err != nil && !errors.Is(err, errCorrupt) {
			return out, p, err
		}
		out = append(out, recs...)
		p.Off += n
		if err != nil {
			s.mu.Lock()
			s.damaged++
			s.damagedB += limit - p.Off
			s.mu.Unlock()
			p.Off = limit // skip the damage; the next pass moves on if sealed
		}
	}
	return out, p, nil
}

// segmentAt returns the segment p points into, moving p to the start of
// the oldest segment when the one it names is gone; s.mu is held.
func (s *Spool) segmentAt(p *Pos) (seg *segment, sealed bool) {
	for i, g := range s.segs {
		if g.seq < p.Seq {
			continue
		}
		if g.seq > p.Seq {
			*p = Pos{Seq: g.seq, Off: int64(headerSize)}
		}
		return g, i < len(s.segs)-1
	}
	return nil, false
}

// readSegment reads up to max whole records from seg between off and
// limit, and the bytes they took. A frame that is corrupt, or cut off
// although limit says it was written, is errCorrupt.
func (s *Spool) readSegment(seg *segment, off, limit int64, max int) ([][]byte, int64, error) {
	if seg.r == nil {
		f, err := os.Open(s.path(seg.seq))
		if err != nil {
			return nil, 0, fmt.Errorf("spool: read: %w", err)
		}
		seg.r = f
	}
	size := min(limit-off, readChunk)
	if size >= frameHead {
		// A record bigger than the chunk is read whole.
		var head [frameHead]byte
		if _, err := seg.r.ReadAt(head[:], off); err != nil {
			return nil, 0, fmt.Errorf("spool: read: %w", err)
		}
		if need := frameSize(int(binary.LittleEndian.Uint32(head[:]))); need > size && need <= limit-off {
			size = need
		}
	}
	buf := make([]byte, size)
	if _, err := seg.r.ReadAt(buf, off); err != nil {
		return nil, 0, fmt.Errorf("spool: read: %w", err)
	}
	var recs [][]byte
	var n int64
	for len(recs) < max && n < size {
		p, fn, err := decodeFrame(buf[n:])
		if errors.Is(err, errShort) && off+size < limit {
			break // the rest is in the next chunk
		}
		if err != nil {
			return recs, n, errCorrupt
		}
		recs = append(recs, p)
		n += int64(fn)
	}
	return recs, n, nil
}

// Commit says that everything before p has been handled: segments wholly
// before it are deleted, and p is recorded so that the next Open starts
// there. Deleting is best effort; a segment that cannot be
// removed now is tried again on the next Commit.
func (s *Spool) Commit(p Pos) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	keep := s.segs[:0]
	last := len(s.segs) - 1
	for i, g := range s.segs {
		if g.seq >= p.Seq || i == last {
			keep = append(keep, g)
			continue
		}
		if g.r != nil {
			g.r.Close()
			g.r = nil
		}
		fi, statErr := os.Stat(s.path(g.seq))
		if err := os.Remove(s.path(g.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			keep = append(keep, g)
			continue
		}
		if statErr == nil {
			s.total -= fi.Size()
		}
		s.dirDirty = true
	}
	clear(s.segs[len(keep):])
	s.segs = keep
	if _, err := s.cursor.WriteAt(encodeCursor(p), 0); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spool: commit: %w", err)
	}
	return nil
}
