package tokens

import (
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
	"github.com/tiktoken-go/tokenizer"
	_ "github.com/tiktoken-go/tokenizer/codec" // registers the generated matchers the oracle runs
)

// The reference implementation moat used before the hand-written splitter:
// tiktoken-go/tokenizer's codecs, whose split patterns run on regexp2. It
// lives only in tests, as the oracle the new counts must equal.
const (
	o200kPattern  = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	cl100kPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

type oracle struct {
	re    *regexp2.Regexp
	codec tokenizer.Codec
}

var (
	oracleOnce sync.Once
	oracles    map[string]*oracle
)

func oracleFor(t testing.TB, enc string) *oracle {
	t.Helper()
	oracleOnce.Do(func() {
		oracles = map[string]*oracle{}
		for enc, pat := range map[string]string{O200kBase: o200kPattern, Cl100kBase: cl100kPattern} {
			c, err := tokenizer.Get(tokenizer.Encoding(enc))
			if err != nil {
				panic(err)
			}
			oracles[enc] = &oracle{re: regexp2.MustCompile(pat, regexp2.None), codec: c}
		}
	})
	return oracles[enc]
}

// pieces returns the oracle's split of text.
func (o *oracle) pieces(t testing.TB, text string) []string {
	t.Helper()
	var out []string
	m, err := o.re.FindStringMatch(text)
	for ; m != nil && err == nil; m, err = o.re.FindNextMatch(m) {
		out = append(out, m.String())
	}
	if err != nil {
		t.Fatalf("oracle split: %v", err)
	}
	return out
}

func (o *oracle) count(t testing.TB, text string) int {
	t.Helper()
	n, err := o.codec.Count(text)
	if err != nil {
		t.Fatalf("oracle count: %v", err)
	}
	return n
}

// split returns the hand-written splitter's pieces of text.
func split(v *vocab, text string) []string {
	if !utf8.ValidString(text) {
		text = string([]rune(text))
	}
	s := splitter{cls: v.cls, text: text}
	var out []string
	for i := 0; i < len(text); {
		end := s.next(i, v.o200k)
		if end < 0 {
			_, w := utf8.DecodeRuneInString(text[i:])
			i += w
			continue
		}
		out = append(out, text[i:end])
		i = end
	}
	return out
}

// models names one model per encoding.
var models = map[string]string{O200kBase: "gpt-4o", Cl100kBase: "gpt-4"}

// checkAgainstOracle fails t unless pieces and count of text equal the
// oracle's for both encodings.
func checkAgainstOracle(t testing.TB, c *Counter, text string) {
	t.Helper()
	for enc, model := range models {
		o := oracleFor(t, enc)
		v := c.vocab(model)
		want, got := o.pieces(t, text), split(v, text)
		if !equalStrings(got, want) {
			t.Fatalf("%s split of %q:\n got %q\nwant %q", enc, text, got, want)
		}
		n, exact := c.Count(model, text), o.count(t, text)
		if hasLongPiece(want) {
			// Pieces beyond maxPiece count as their bytes: an upper bound.
			if n < exact || n > upperBound(text) {
				t.Fatalf("%s count of %q = %d, want between %d and %d", enc, text, n, exact, upperBound(text))
			}
		} else if n != exact {
			t.Fatalf("%s count of %q = %d, want %d", enc, text, n, exact)
		}
	}
}

func hasLongPiece(pieces []string) bool {
	for _, p := range pieces {
		if len(p) > maxPiece {
			return true
		}
	}
	return false
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// corpus covers every alternative of both patterns, their interactions and
// the inputs that made the old splitter quadratic.
var corpus = []string{
	"hello world",
	"We know what we are, but know not what we may be.",
	"The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX! CamelCaseWordsAndHTTPServer XMLHttpRequest iPhone McDonald's",
	"I'm sure they'll say it's what we'd've done; you're right, we've THEY'LL IT'S WE'D You'Re I'M 'S 'T 'Re 'rE 'LL 'lL 'Ll 'd 'D 'x '",
	"don't DON'T Don'T o'clock rock'n'roll 'ſ x'ſ ſ 'ſtart",
	"func main() {\n\tfmt.Println(\"hi\")\n\tfor i := 0; i < 10; i++ {\n\t\tx[i] = i*2 // comment\n\t}\n}\n",
	"def f(x):\n    return x ** 2\n\n\nclass A:\n    pass\r\n\r\n",
	`{"model":"gpt-4o","messages":[{"role":"user","content":"Hi \"there\"\n"}],"max_tokens":100,"n":1,"x":[1,2.5e-3,-7,null,true]}`,
	"お誕生日おめでとう 日本語のテキストです。東京都、大阪府。カタカナ ひらがな 漢字",
	"中文文本，包含标点符号。한국어 텍스트입니다. Ελληνικά κείμενο. Русский текст, Ёлка. עברית ערבית العربية",
	"emoji 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇯🇵🇫🇷 ❤️ ✨ a😀b 😀😀😀😀😀😀",
	"numbers 1 12 123 1234 12345 123456 3.14159 1,000,000 0x1F 1e10 ٣٤٥ ١٢٣٤ ⅫⅩ ² ³ ½",
	"   leading spaces and trailing   ",
	" \n \n \n",
	"a  \n\n  b\t\t\n\t c \r\n\r\n d\n",
	"\n\n\n\n",
	"\t\t\t",
	"x   \u00a0\u2003 y \u3000\u3000z",
	"!!!??? ... --- === *** ### /// \\\\\\ ||| ~~~ ``` $$$ %%% ^^^ &&& @@@",
	"path/to/file.go:12:3 https://example.com/a/b?c=d&e=f#g ../../x //\n// \n/\n/",
	"a.b,c;d:e!f?g(h)[i]{j}<k>l'm\"n`o",
	"\x7f\x7fa\x7fb \x7f\n\x7f",
	"\x00\x01\x02\x1c\x1d\x1e\x1f\x0b\x0c",
	"\xff\xfe invalid \xc3\x28 utf8 \xe2\x82 end\xed\xa0\x80",
	"\u0301\u0301abc \u0301Abc e\u0301 E\u0301\u0301X \u0301 \u0301'S",
	"ABCdef ABC ABCDEFghi aBC A B C a'S A'LL Ǆǅǆ ǅa ʰʰa ʰ ªº",
	"x\u0085y\u2028z\u2029w\u200b\ufeff",
	"l'l 'L 'le 'lle ''s ''",
	"\U0001d400\U0001d401 \U00010400\U00010428 \U00020000\U00020001",
	"", " ", "\n", "'", "a", "1", "!",
	"    x", "  \n  x", " \n\tx", "x \n", "x  ", "x \t\n \n\n  \n y",
	strings.Repeat(" \n", 500),
	strings.Repeat(" ", 700) + "x",
	strings.Repeat("a", 300),
	strings.Repeat("ab", 200) + " " + strings.Repeat("Zy", 150),
	strings.Repeat("!", 300),
	strings.Repeat("1", 301),
	strings.Repeat("日本", 200),
	strings.Repeat("😀", 100),
	strings.Repeat("a", maxPiece+100), // bounded, not merged
	// Pieces merged with the heap, up to the longest merged exactly.
	strings.Repeat("a", 100), strings.Repeat("a", maxPiece), strings.Repeat(" ", maxPiece) + "x",
	strings.Repeat("Zy", 60), strings.Repeat("日本", 40), strings.Repeat("=", 120) + "\n",
	" " + strings.Repeat("abcdefghijklmnopqrstuvwxyz", 10)[:maxPiece-1],
}

func TestSplitAndCountMatchOracle(t *testing.T) {
	c := New()
	for _, text := range corpus {
		checkAgainstOracle(t, c, text)
	}
}

// FuzzCountMatchesOracle compares the pieces and the count of random text
// with the reference tokenizer's, for both encodings. The oracle is
// quadratic, so inputs are kept short.
func FuzzCountMatchesOracle(f *testing.F) {
	for _, s := range corpus {
		if len(s) < 2000 {
			f.Add(s)
		}
	}
	c := New()
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 4096 {
			t.Skip()
		}
		checkAgainstOracle(t, c, text)
		for _, model := range models {
			if n := c.Count(model, text); n > upperBound(text) {
				t.Fatalf("count %d above the upper bound %d", n, upperBound(text))
			}
		}
	})
}

// alphabet holds runes from every class the patterns tell apart, so that
// random strings over it reach the alternatives' interactions quickly.
var alphabet = []rune{
	' ', ' ', '\n', '\r', '\t', '\v', '\u00a0', '\u3000', '\u0085',
	'a', 's', 't', 'l', 'e', 'r', 'v', 'm', 'd', 'A', 'S', 'L', 'E', 'ſ',
	'ǅ', 'ʰ', 'ª', 'é', 'É', '\u0301', '\u0903', '日', 'ア', '한',
	'1', '٣', 'Ⅻ', '½', '!', '.', '/', '\'', '"', '-', '😀', '\u200d',
	'\x7f', '\x00', '\x1c', '\U0001d400', '\U00010428',
}

// fromAlphabet maps each byte of b to a rune of alphabet.
func fromAlphabet(b []byte) string {
	var sb strings.Builder
	for _, x := range b {
		sb.WriteRune(alphabet[int(x)%len(alphabet)])
	}
	return sb.String()
}

func TestRandomTextMatchesOracle(t *testing.T) {
	c := New()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		checkAgainstOracle(t, c, fromAlphabet(b))
	}
}

// FuzzAlphabetMatchesOracle is FuzzCountMatchesOracle over strings of
// alphabet, which random bytes alone rarely produce.
func FuzzAlphabetMatchesOracle(f *testing.F) {
	f.Add([]byte("hello world"))
	f.Add([]byte{0, 2, 9, 10, 20, 30, 40, 45})
	c := New()
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1024 {
			t.Skip()
		}
		checkAgainstOracle(t, c, fromAlphabet(b))
	})
}
