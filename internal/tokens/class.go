package tokens

import "unicode"

// Character classes of the split patterns. One rune can be in several.
const (
	// clsP is [^\r\n\p{L}\p{N}], the optional lead of a word.
	clsP uint8 = 1 << iota
	// clsQ is [^\s\p{L}\p{N}], punctuation and symbols.
	clsQ
	// clsS is \s, as Go's unicode.IsSpace decides it.
	clsS
	// clsN is \p{N}.
	clsN
	// clsL is \p{L}.
	clsL
	// clsU is [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], o200k's upper-case run.
	clsU
	// clsLow is [\p{Ll}\p{Lm}\p{Lo}\p{M}], o200k's lower-case run.
	clsLow
)

// ASCII membership of clsP and clsQ, copied from the regexp2 code that
// tiktoken-go/tokenizer generates for the split patterns. They are not
// derived from Unicode on purpose: the generated bitmaps leave DEL (0x7f)
// out of both sets, so DEL matches no alternative and the reference
// tokenizer skips it; counting it would disagree with every count moat
// made before.
const (
	asciiPLo, asciiPHi uint64 = 0xfc00ffffffffdbff, 0x78000001f8000001
	asciiQLo, asciiQHi uint64 = 0xfc00fffeffffc1ff, 0x78000001f8000001
)

// classes maps runes of the Basic Multilingual Plane to their class bits,
// so that the split loop does one load per rune instead of several Unicode
// table searches. Runes beyond it are classified on the fly.
type classes [1 << 16]uint8

func newClasses() *classes {
	t := new(classes)
	for r := range rune(len(t)) {
		t[r] = classify(r)
	}
	return t
}

func (t *classes) of(r rune) uint8 {
	if r < rune(len(t)) {
		return t[r]
	}
	return classify(r)
}

// classify decides a rune's classes the way the generated matcher does:
// ASCII through its bitmaps, everything else through Go's Unicode tables.
func classify(r rune) uint8 {
	var c uint8
	isL, isN := unicode.Is(unicode.L, r), unicode.Is(unicode.N, r)
	space := unicode.IsSpace(r)
	if r < 128 {
		if inBitmap(r, asciiPLo, asciiPHi) {
			c |= clsP
		}
		if inBitmap(r, asciiQLo, asciiQHi) {
			c |= clsQ
		}
	} else {
		if !isL && !isN {
			c |= clsP
		}
		if !isL && !isN && !space {
			c |= clsQ
		}
	}
	if space {
		c |= clsS
	}
	if isN {
		c |= clsN
	}
	if isL {
		c |= clsL
	}
	if unicode.In(r, unicode.Lu, unicode.Lt, unicode.Lm, unicode.Lo, unicode.M) {
		c |= clsU
	}
	if unicode.In(r, unicode.Ll, unicode.Lm, unicode.Lo, unicode.M) {
		c |= clsLow
	}
	return c
}

func inBitmap(r rune, lo, hi uint64) bool {
	if r < 64 {
		return lo&(1<<uint(r)) != 0
	}
	return hi&(1<<uint(r-64)) != 0
}
