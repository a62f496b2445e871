package redact

import (
	"encoding/json"
	"unicode/utf8"
)

// Set is an immutable list of rules applied together. The zero Set and a
// nil *Set find nothing.
type Set struct {
	rules []Rule
}

// NewSet returns a Set of rules.
func NewSet(rules ...Rule) *Set { return &Set{rules: append([]Rule(nil), rules...)} }

// Empty reports whether the set has no rules.
func (s *Set) Empty() bool { return s == nil || len(s.rules) == 0 }

// Find returns the matches in text, ordered by start and not overlapping.
func (s *Set) Find(text []byte) []Match {
	if s.Empty() {
		return nil
	}
	var ms []Match
	st := statsOf(text)
	for i := range s.rules {
		ms = s.rules[i].find(ms, text, st)
	}
	return sortMatches(ms)
}

// Replacement is what a match of the rule named name is replaced with.
func Replacement(name string) string { return "[REDACTED:" + name + "]" }

// Text returns text with every match replaced, and the names of the rules
// that matched (each once, in order of first match). When nothing matched
// it returns text itself.
func (s *Set) Text(text []byte) ([]byte, []string) {
	ms := s.Find(text)
	if len(ms) == 0 {
		return text, nil
	}
	return replace(make([]byte, 0, len(text)), text, ms), names(nil, ms)
}

// replace appends text to out with the matches replaced.
func replace(out, text []byte, ms []Match) []byte {
	last := 0
	for _, m := range ms {
		out = append(out, text[last:m.Start]...)
		out = append(out, "[REDACTED:"...)
		out = append(out, m.Rule...)
		out = append(out, ']')
		last = m.End
	}
	return append(out, text[last:]...)
}

func names(seen []string, ms []Match) []string {
	for _, m := range ms {
		if !contains(seen, m.Rule) {
			seen = append(seen, m.Rule)
		}
	}
	return seen
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Body redacts a request or response body: a valid JSON document through
// JSON, so that it stays valid, anything else (a multipart form, a prefix
// cut from a longer body) through Text.
func (s *Set) Body(b []byte) ([]byte, []string) {
	if s.Empty() || len(b) == 0 {
		return b, nil
	}
	if json.Valid(b) {
		return s.JSON(b)
	}
	return s.Text(b)
}

// JSON rewrites the matches inside the strings (member names included) and
// the numbers of a JSON document, and returns the names of the rules that
// matched. A string is matched on its decoded text and re-encoded only when
// something in it changed; a number that matches is replaced by the
// replacement as a string. Output is valid JSON whenever doc is; on
// malformed input it still never panics, and text after a string left open
// is redacted as text.
func (s *Set) JSON(doc []byte) ([]byte, []string) {
	if s.Empty() {
		return doc, nil
	}
	var out []byte // nil until the first change
	var hit []string
	last := 0 // doc[:last] has been copied to out (once out is in use)
	emit := func(start, end int, repl []byte) {
		if out == nil {
			out = make([]byte, 0, len(doc)+64)
		}
		out = append(out, doc[last:start]...)
		out = append(out, repl...)
		last = end
	}
	for i := 0; i < len(doc); {
		switch c := doc[i]; {
		case c == '"':
			end, escaped := stringEnd(doc, i)
			raw := doc[i+1 : end]
			text := raw
			if escaped {
				text = unquote(doc[i:min(end+1, len(doc))], raw)
			}
			if ms := s.Find(text); len(ms) > 0 {
				hit = names(hit, ms)
				repl := quote(replace(nil, text, ms))
				emit(i, min(end+1, len(doc)), repl)
			}
			i = end + 1
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(doc) && isNumberByte(doc[j]) {
				j++
			}
			if ms := s.Find(doc[i:j]); len(ms) > 0 {
				hit = names(hit, ms)
				emit(i, j, quote([]byte(Replacement(ms[0].Rule))))
			}
			i = j
		default:
			i++
		}
	}
	if out == nil {
		return doc, hit
	}
	return append(out, doc[last:]...), hit
}

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// stringEnd returns the index of the quote that closes the string opening
// at doc[i] (len(doc) when it is left open) and whether it has escapes.
func stringEnd(doc []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(doc); j++ {
		switch doc[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j, escaped
		}
	}
	return len(doc), escaped
}

// unquote decodes a JSON string literal; a malformed one (or one left open)
// is matched on its raw bytes.
func unquote(lit, raw []byte) []byte {
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return raw
	}
	return []byte(s)
}

const hexDigits = "0123456789abcdef"

// quote encodes text as a JSON string literal, escaping only what JSON
// requires (and invalid UTF-8 as U+FFFD), so that non-ASCII text stays
// readable in the log.
func quote(text []byte) []byte {
	out := make([]byte, 0, len(text)+2)
	out = append(out, '"')
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				out = append(out, '\\', c)
			case c == '\n':
				out = append(out, '\\', 'n')
			case c == '\r':
				out = append(out, '\\', 'r')
			case c == '\t':
				out = append(out, '\\', 't')
			case c < 0x20:
				out = append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				out = append(out, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(text[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, "\ufffd"...)
		} else {
			out = append(out, text[i:i+size]...)
		}
		i += size
	}
	return append(out, '"')
}
