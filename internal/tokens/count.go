package tokens

import (
	"context"
	"unicode/utf8"
)

// checkEvery is how many bytes of text are counted between two looks at
// the context: often enough that a client that left stops the work within
// tens of microseconds, rarely enough to cost nothing measurable.
const checkEvery = 16 << 10

// count returns the tokens of text. It stops early, returning the tokens
// of the pieces counted so far and the context's error, when ctx ends.
func (v *vocab) count(ctx context.Context, text string, m *merger) (int, error) {
	if !utf8.ValidString(text) {
		// The reference tokenizer matches runes and turns every byte that
		// is not UTF-8 into U+FFFD; do the same so the counts agree.
		text = string([]rune(text))
	}
	m.ranks = v.ranks
	s := splitter{cls: v.cls, text: text}
	n, nextCheck := 0, checkEvery
	for i := 0; i < len(text); {
		if i >= nextCheck {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			nextCheck = i + checkEvery
		}
		end := s.next(i, v.o200k)
		if end < 0 { // a rune no alternative matches (DEL): skipped
			_, w := utf8.DecodeRuneInString(text[i:])
			i += w
			continue
		}
		n += m.count(text[i:end])
		i = end
	}
	return n, nil
}

// upperBound is a count that text cannot exceed, found without tokenizing:
// its length in bytes. Pieces partition the text, byte-pair encoding
// turns a piece into tokens that are non-empty byte strings concatenating
// to it (every single byte is a token of these vocabularies, so merging
// never needs an empty one), so no text has more tokens than bytes. Text
// that is not UTF-8 is first widened to U+FFFD, three bytes for each bad
// byte, hence the factor of three there.
func upperBound(text string) int {
	if utf8.ValidString(text) {
		return len(text)
	}
	return 3 * len(text)
}
