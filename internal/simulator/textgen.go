package simulator

import (
	"math/rand/v2"
	"strings"

	"github.com/moat-gw/moat/internal/tokens"
)

// candidateWords returns common English words. At New the simulator keeps, per
// tokenizer, those whose three written forms (" word", " Word" and
// "Word") are one token each, so that every streamed piece is exactly one
// token and a max_tokens cap cuts the text at an exact token count.
func candidateWords() []string {
	return []string{
		"the", "model", "system", "data", "answer", "question", "result", "value",
		"time", "number", "people", "world", "day", "part", "place", "case",
		"point", "group", "problem", "fact", "service", "request", "response", "network",
		"server", "client", "message", "token", "limit", "rate", "test", "load",
		"water", "light", "house", "city", "road", "river", "tree", "stone",
		"small", "large", "good", "new", "first", "last", "long", "great",
		"little", "own", "other", "old", "right", "big", "high", "different",
		"early", "young", "important", "few", "public", "same", "able", "simple",
		"clear", "open", "short", "full", "free", "real", "best", "better",
		"is", "was", "are", "has", "had", "will", "can", "would",
		"make", "take", "give", "find", "tell", "work", "call", "try",
		"need", "feel", "become", "leave", "keep", "begin", "help", "show",
		"hear", "play", "run", "move", "live", "believe", "bring", "write",
		"and", "but", "or", "so", "then", "when", "while", "because",
		"of", "in", "to", "for", "with", "on", "at", "from",
		"by", "about", "into", "over", "after", "under", "between", "through",
		"a", "an", "this", "that", "these", "those", "each", "every",
		"some", "many", "more", "most", "all", "both", "such", "only",
		"we", "they", "it", "you", "he", "she", "one", "two",
		"well", "also", "still", "very", "often", "never", "always", "here",
		"there", "now", "again", "just", "even", "back", "much", "how",
		"gateway", "private", "cloud", "region", "quota", "stream", "event", "signal",
		"order", "power", "story", "table", "line", "level", "state", "change",
	}
}

// vocabulary is the word list of one tokenizer, with each form precomputed so
// that generation allocates nothing per word.
type vocabulary struct {
	lower  []string // " word"
	capped []string // " Word"
	start  []string // "Word" (first word of the answer)
}

// newVocabulary keeps the candidate words that are single tokens in every
// form for model's tokenizer.
func newVocabulary(tc *tokens.Counter, model string) vocabulary {
	var v vocabulary
	for _, w := range candidateWords() {
		c := strings.ToUpper(w[:1]) + w[1:]
		forms := [...]string{" " + w, " " + c, c}
		ok := true
		for _, f := range forms {
			if tc.Count(model, f) != 1 {
				ok = false
				break
			}
		}
		if ok {
			v.lower = append(v.lower, forms[0])
			v.capped = append(v.capped, forms[1])
			v.start = append(v.start, forms[2])
		}
	}
	return v
}

// Sentence and answer lengths, in tokens.
const (
	minAnswer   = 20
	answerRange = 41 // so answers aim at 20..60 tokens before the last sentence ends
	minSentence = 5
	sentRange   = 9 // 5..13 words per sentence
)

// generate writes a deterministic answer drawn from rng as one-token pieces.
// The answer is whole sentences of at least 20..60 tokens (drawn); when
// limit > 0 cuts it short, finish is "length", otherwise "stop".
func (v vocabulary) generate(rng *rand.Rand, limit int) (pieces []string, finish string) {
	target := minAnswer + rng.IntN(answerRange)
	pieces = make([]string, 0, target+minSentence+sentRange)
	for len(pieces) < target {
		words := minSentence + rng.IntN(sentRange)
		for i := range words {
			switch {
			case i > 0:
				pieces = append(pieces, v.lower[rng.IntN(len(v.lower))])
			case len(pieces) == 0:
				pieces = append(pieces, v.start[rng.IntN(len(v.start))])
			default:
				pieces = append(pieces, v.capped[rng.IntN(len(v.capped))])
			}
		}
		pieces = append(pieces, ".")
	}
	if limit > 0 && limit < len(pieces) {
		return pieces[:limit], "length"
	}
	return pieces, "stop"
}
