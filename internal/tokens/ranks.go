package tokens

import (
	"fmt"
	"math/bits"
)

// rankTable maps a vocabulary's tokens to their ranks. Counting does one
// lookup per piece and several per merge, and Go's map[string]uint32 was
// half of the CPU of counting prose: its entries are string headers that
// point to scattered bytes. Here every entry is one uint64 in an open
// addressing table (half full) and the tokens' bytes sit back to back in
// one string, so a lookup costs a hash of the piece, usually one slot
// read and one comparison.
//
// An entry packs the token's offset in arena (22 bits), its length (8
// bits), its rank (18 bits) and 16 bits of its hash, which reject nearly
// every other token met while probing without reading arena. Zero is an
// empty slot: no entry is zero, because lengths are at least 1.
type rankTable struct {
	slots []uint64
	mask  uint64
	arena string
}

const (
	offBits  = 22
	lenBits  = 8
	rankBits = 18
	tagBits  = 64 - offBits - lenBits - rankBits
)

// newRankTable builds a table from tokens indexed by rank.
func newRankTable(tokens []string) (*rankTable, error) {
	size := 1 << bits.Len(uint(2*len(tokens)))
	t := &rankTable{slots: make([]uint64, size), mask: uint64(size - 1)}
	arena := make([]byte, 0, 16*len(tokens))
	for rank, tok := range tokens {
		if len(tok) == 0 || len(tok) >= 1<<lenBits || len(arena) >= 1<<offBits || rank >= 1<<rankBits {
			return nil, fmt.Errorf("token %d (%d bytes) does not fit the rank table", rank, len(tok))
		}
		h := hashPiece(tok)
		e := uint64(len(arena)) | uint64(len(tok))<<offBits | uint64(rank)<<(offBits+lenBits) | (h>>(64-tagBits))<<(offBits+lenBits+rankBits)
		arena = append(arena, tok...)
		i := h & t.mask
		for t.slots[i] != 0 {
			i = (i + 1) & t.mask
		}
		t.slots[i] = e
	}
	t.arena = string(arena)
	return t, nil
}

// rank returns piece's rank, or noRank if piece is not a token.
func (t *rankTable) rank(piece string) uint32 {
	h := hashPiece(piece)
	tag := h >> (64 - tagBits)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		e := t.slots[i]
		if e == 0 {
			return noRank
		}
		if e>>(offBits+lenBits+rankBits) != tag || int(e>>offBits&(1<<lenBits-1)) != len(piece) {
			continue
		}
		off := int(e & (1<<offBits - 1))
		if t.arena[off:off+len(piece)] == piece {
			return uint32(e >> (offBits + lenBits) & (1<<rankBits - 1))
		}
	}
}

// hashPiece is a fast non-cryptographic hash (multiply and fold, eight
// bytes at a time). The table is built from a fixed vocabulary, so there
// is nothing for an attacker to flood: a chosen piece can at worst probe
// a few extra slots.
func hashPiece(s string) uint64 {
	const m1, m2 = 0x9e3779b97f4a7c15, 0xbf58476d1ce4e5b9
	h := uint64(len(s)) * m1
	for len(s) >= 8 {
		h = mix(h^load64(s), m2)
		s = s[8:]
	}
	if len(s) > 0 {
		var tail uint64
		for i := len(s) - 1; i >= 0; i-- {
			tail = tail<<8 | uint64(s[i])
		}
		h = mix(h^tail, m2)
	}
	return h ^ h>>29
}

// load64 reads eight bytes little-endian; the compiler makes it one load.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
