package tokens

import "unicode/utf8"

// This file splits text into the pieces that byte-pair encoding then
// merges, producing exactly the pieces of the regular expressions
// tiktoken-go/tokenizer uses:
//
//	o200k_base:  [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	            |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
//	            |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//	cl100k_base: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
//	            | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// as that module's generated regexp2 matcher runs them, quirks included
// (they decide the counts moat always made): \s*[\r\n]+ ends at the end of
// the first run of line breaks in a run of white space, not the last; DEL
// matches nothing and is skipped; the case-insensitive contractions also
// accept 'ſ (U+017F), which folds to s.
//
// The matcher backtracks: \s*[\r\n]+ scans to the end of a white-space run
// for every piece it makes, so a run of " \n" costs O(n²). Here every
// alternative is decided by one forward scan whose length is bounded by
// the piece it returns plus the piece that follows, so splitting is linear
// in the input: no rune is read more than a small constant number of times.

// splitter walks one valid UTF-8 text. steps counts the bytes it reads
// (plus one per scan); tests use it to show the work is linear without
// timing anything.
type splitter struct {
	cls   *classes
	text  string
	steps int
}

// at decodes the rune at byte offset i and returns it, its width and its
// classes. At the end of the text it returns width 0 and no classes.
func (s *splitter) at(i int) (rune, int, uint8) {
	if i >= len(s.text) {
		return 0, 0, 0
	}
	s.steps++
	if b := s.text[i]; b < utf8.RuneSelf {
		return rune(b), 1, s.cls[b]
	}
	r, w := utf8.DecodeRuneInString(s.text[i:])
	return r, w, s.cls.of(r)
}

// run returns the end of the run of runes in class c that starts at i.
// ASCII, nearly all of most prompts, is classified inline.
func (s *splitter) run(i int, c uint8) int {
	t, start := s.text, i
	for i < len(t) {
		if b := t[i]; b < utf8.RuneSelf {
			if s.cls[b]&c == 0 {
				break
			}
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(t[i:])
		if s.cls.of(r)&c == 0 {
			break
		}
		i += w
	}
	s.steps += i - start + 1
	return i
}

// contraction returns the length of the case-insensitive contraction
// ('s 't 're 've 'm 'll 'd) at i, or 0.
func (s *splitter) contraction(i int) int {
	t := s.text
	if i >= len(t) || t[i] != '\'' {
		return 0
	}
	r1, w1, _ := s.at(i + 1)
	if w1 == 0 {
		return 0
	}
	next := func(b byte) bool { return i+2 < len(t) && t[i+2]|0x20 == b }
	switch r1 {
	case 'S', 'T', 's', 't', 'ſ':
		return 1 + w1
	case 'M', 'm', 'D', 'd':
		return 2
	case 'R', 'r', 'V', 'v':
		if next('e') {
			return 3
		}
	case 'L', 'l':
		if next('l') {
			return 3
		}
	}
	return 0
}

// next returns the end of the piece that starts at i for o200k_base or
// cl100k_base, or -1 when no alternative matches there (the rune is
// skipped, as the reference matcher skips it).
func (s *splitter) next(i int, o200k bool) int {
	_, w0, c0 := s.at(i)
	if o200k {
		if end := s.o200kWord(i, w0, c0); end > 0 {
			return end
		}
	} else {
		if n := s.contraction(i); n > 0 {
			return i + n
		}
		if c0&clsP != 0 {
			if _, w1, c1 := s.at(i + w0); c1&clsL != 0 {
				return s.run(i+w0+w1, clsL)
			}
		}
		if c0&clsL != 0 {
			return s.run(i+w0, clsL)
		}
	}
	if c0&clsN != 0 { // \p{N}{1,3}
		end := i + w0
		for range 2 {
			_, w, c := s.at(end)
			if c&clsN == 0 {
				break
			}
			end += w
		}
		return end
	}
	if end := s.punct(i, o200k); end > 0 {
		return end
	}
	if c0&clsS != 0 {
		return s.space(i)
	}
	return -1
}

// punct matches " ?[^\s\p{L}\p{N}]+" followed by line breaks (and, for
// o200k_base, slashes). All three parts are atomic in the matcher.
func (s *splitter) punct(i int, o200k bool) int {
	j := i
	if j < len(s.text) && s.text[j] == ' ' {
		j++
	}
	end := s.run(j, clsQ)
	if end == j {
		return 0
	}
	for end < len(s.text) {
		b := s.text[end]
		if b != '\r' && b != '\n' && (!o200k || b != '/') {
			break
		}
		s.steps++
		end++
	}
	return end
}

// space matches the three white-space alternatives at i, which holds white
// space. \s*[\r\n]+ wins if the run holds a line break: the piece ends
// after the first run of breaks (the scan stops there, so it reads only
// the piece). Otherwise \s+(?!\S) takes the run but its last rune when
// more text follows (that rune leads the next piece), and \s+ takes a
// single white-space rune before other text.
func (s *splitter) space(i int) int {
	j := i
	runes := 0
	last := i // start of the run's last rune
	for {
		r, w, c := s.at(j)
		if r == '\r' || r == '\n' {
			for j < len(s.text) && (s.text[j] == '\r' || s.text[j] == '\n') {
				s.steps++
				j++
			}
			return j
		}
		if w == 0 || c&clsS == 0 {
			break
		}
		last = j
		runes++
		j += w
	}
	if j == len(s.text) || runes < 2 {
		return j
	}
	return last
}

// o200kWord matches o200k_base's two word alternatives in the matcher's
// order: the first with its optional lead, the first without it, then the
// second with and without. It returns 0 when neither matches.
func (s *splitter) o200kWord(i, w0 int, c0 uint8) int {
	if c0&(clsP|clsU|clsLow) == 0 {
		return 0
	}
	var lead, bare word
	if c0&clsP != 0 {
		lead = s.letters(i + w0)
		if end := lead.lowerEnd(); end > 0 {
			return end + s.contraction(end)
		}
	}
	bare = s.letters(i)
	if end := bare.lowerEnd(); end > 0 {
		return end + s.contraction(end)
	}
	for _, w := range [2]word{lead, bare} {
		if w.upperEnd > w.start {
			return w.lowEnd + s.contraction(w.lowEnd)
		}
	}
	return 0
}

// word is one scan of [U]*[Low]* from start: where the U run ends, where
// the last rune in it that is also Low ends (or -1), and where the Low run
// after it ends.
type word struct {
	start, upperEnd, lastLow, lowEnd int
}

// letters scans [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]* then
// [\p{Ll}\p{Lm}\p{Lo}\p{M}]* from start.
func (s *splitter) letters(start int) word {
	w := word{start: start, lastLow: -1}
	t, j := s.text, start
	for j < len(t) {
		var c uint8
		n := 1
		if b := t[j]; b < utf8.RuneSelf {
			c = s.cls[b]
		} else {
			var r rune
			r, n = utf8.DecodeRuneInString(t[j:])
			c = s.cls.of(r)
		}
		if c&clsU == 0 {
			break
		}
		j += n
		if c&clsLow != 0 {
			w.lastLow = j
		}
	}
	s.steps += j - start
	w.upperEnd = j
	w.lowEnd = s.run(j, clsLow)
	return w
}

// lowerEnd is where U*L+ ends, or 0 if it does not match: greedy U* gives
// back runes until L+ can take one, so L+ either continues after the U run
// or takes the last U rune that is also Low.
func (w word) lowerEnd() int {
	if w.lowEnd > w.upperEnd {
		return w.lowEnd
	}
	if w.lastLow > 0 {
		return w.lastLow
	}
	return 0
}
