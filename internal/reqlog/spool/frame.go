// Package spool is a durable FIFO of opaque records on local disk: the
// request log's write-ahead journal. Records are appended to numbered
// segment files, read back in order from a position, and a segment is
// deleted once everything in it has been committed. It knows nothing of
// what the records mean; package reqlog encodes them.
//
// Every record is framed by its length and a CRC-32C of its bytes, so a
// torn write (a crash mid-append) or a damaged disk block is found when the
// segment is read, and the rest of that segment is skipped and counted
// instead of being handed on as garbage.
package spool

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// Segment layout: the magic, then frames back to back. A frame is a
// little-endian uint32 payload length, a little-endian uint32 CRC-32C
// (Castagnoli) of the payload, then the payload.
const (
	magic      = "MOATSPL1"
	headerSize = len(magic)
	frameHead  = 8
	// MaxRecord bounds one record, so that a corrupt length cannot make a
	// reader allocate gigabytes.
	MaxRecord = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a frame whose length or checksum is wrong; errShort, a
// frame cut off by the end of the data (a torn tail, or one not yet
// written in full).
var (
	errCorrupt = errors.New("spool: corrupt record")
	errShort   = errors.New("spool: short record")
)

// appendFrame appends payload's frame to dst.
func appendFrame(dst, payload []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
	return append(dst, payload...)
}

// frameSize is the bytes a payload of n bytes takes on disk.
func frameSize(n int) int64 { return int64(frameHead + n) }

// decodeFrame reads the frame at the start of b and returns its payload (a
// subslice of b) and the frame's size. It returns errShort when b ends
// inside the frame and errCorrupt when the frame is invalid.
func decodeFrame(b []byte) (payload []byte, n int, err error) {
	if len(b) < frameHead {
		return nil, 0, errShort
	}
	size := binary.LittleEndian.Uint32(b)
	sum := binary.LittleEndian.Uint32(b[4:])
	if size > MaxRecord {
		return nil, 0, errCorrupt
	}
	end := frameHead + int(size)
	if len(b) < end {
		return nil, 0, errShort
	}
	payload = b[frameHead:end]
	if crc32.Checksum(payload, castagnoli) != sum {
		return nil, 0, errCorrupt
	}
	return payload, end, nil
}

// DecodeSegment splits a whole segment file's bytes into its records. It
// returns the records before the first invalid or cut-off frame, the
// length of the valid prefix, and whether anything after it was skipped.
// A file without the segment magic has no valid prefix at all.
func DecodeSegment(b []byte) (recs [][]byte, valid int, damaged bool) {
	if len(b) < headerSize || string(b[:headerSize]) != magic {
		return nil, 0, len(b) > 0
	}
	off := headerSize
	for off < len(b) {
		p, n, err := decodeFrame(b[off:])
		if err != nil {
			return recs, off, true
		}
		recs = append(recs, p)
		off += n
	}
	return recs, off, false
}
