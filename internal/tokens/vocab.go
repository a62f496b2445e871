package tokens

import (
	"fmt"

	"github.com/tiktoken-go/tokenizer"
)

// vocab is one encoding's ranks (a token's rank is its ID, and BPE merges
// the lowest-ranked pair first) plus what its split pattern needs.
type vocab struct {
	ranks *rankTable
	o200k bool
	cls   *classes
}

// loadVocab reads an encoding's ranks out of tiktoken-go/tokenizer, whose
// vocabularies are compiled into the binary. The module keeps its map
// unexported, so the ranks are read back through its public Decode, one ID
// at a time: IDs are dense from 0, and the first ID Decode refuses is the
// end of the vocabulary (special tokens are not in it and never counted).
// This costs tens of milliseconds of CPU once per encoding.
func loadVocab(enc tokenizer.Encoding, cls *classes) (*vocab, error) {
	codec, err := tokenizer.Get(enc)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", enc, err)
	}
	var tokens []string
	ids := make([]uint, 1)
	for id := uint(0); ; id++ {
		ids[0] = id
		tok, err := codec.Decode(ids)
		if err != nil {
			break
		}
		tokens = append(tokens, tok)
	}
	if len(tokens) < 256 {
		return nil, fmt.Errorf("load %s: only %d tokens", enc, len(tokens))
	}
	ranks, err := newRankTable(tokens)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", enc, err)
	}
	return &vocab{ranks: ranks, o200k: enc == tokenizer.O200kBase, cls: cls}, nil
}
