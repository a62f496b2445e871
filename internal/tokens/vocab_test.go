package tokens

import (
	"testing"

	"github.com/tiktoken-go/tokenizer"
)

// TestRanksCoverVocabulary: every token the module can decode, at any ID
// up to past the special tokens, is in the rank table at its ID, so that
// loading stopped at the true end of the vocabulary and left no gap.
func TestRanksCoverVocabulary(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 400,000 IDs")
	}
	c := New()
	for enc, model := range models {
		codec, err := tokenizer.Get(tokenizer.Encoding(enc))
		if err != nil {
			t.Fatal(err)
		}
		v := c.vocab(model)
		found := 0
		for id := uint(0); id < 201_000; id++ {
			tok, err := codec.Decode([]uint{id})
			if err != nil {
				continue
			}
			found++
			if got := v.ranks.rank(tok); got != uint32(id) {
				t.Fatalf("%s: token %d (%q) has rank %d", enc, id, tok, got)
			}
		}
		if found < 100_000 {
			t.Fatalf("%s: only %d tokens", enc, found)
		}
	}
}
