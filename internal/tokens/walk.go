package tokens

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// The prompt walk reads the raw JSON of messages, prompt and input in
// place instead of decoding it into any values: it finds the string
// leaves that carry model-visible text (the keys and skipped media parts
// of openai.Request.PromptText) and hands each one, still quoted, to a
// sink. The bound sink only measures them; the exact sink unescapes the
// few that hold escapes into a reused buffer and tokenizes them.
//
// The input is JSON that openai.ParseRequest has already validated, so
// the walker checks only what it needs to stay in bounds; on text that is
// not JSON it stops early (counting part of it), never panics and never
// loops.

// textSink receives the string leaves a walk finds. raw is the string's
// content between its quotes, escaped tells whether it holds a backslash.
type textSink interface {
	leaf(raw []byte, escaped bool)
	// message is called once per element of a messages list: role is the
	// raw content of its last string "role" member (nil if none), named
	// whether its last string "name" member is non-empty.
	message(role []byte, roleEscaped, named bool)
}

// textKey reports whether a string under key carries model-visible text.
func textKey(key []byte) bool {
	switch string(key) {
	case "", "content", "text", "name", "arguments", "input", "prompt", "output", "instructions":
		return true
	}
	return false
}

// skippedKey reports whether an object member is media the model does not
// read as text (and the walk does not enter).
func skippedKey(key []byte) bool {
	switch string(key) {
	case "image_url", "input_audio", "file":
		return true
	}
	return false
}

// jsonWalk is one walk's cursor over valid JSON.
type jsonWalk struct {
	b    []byte
	i    int
	sink textSink
	// keyBuf holds an unescaped member name (names are rarely escaped).
	keyBuf []byte
}

func (w *jsonWalk) ws() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// str reads a string whose opening quote is at w.i and returns its raw
// content and whether it holds an escape; ok is false on unterminated text.
func (w *jsonWalk) str() (raw []byte, escaped, ok bool) {
	start := w.i + 1
	j := start
	for {
		k := bytes.IndexByte(w.b[j:], '"')
		if k < 0 {
			w.i = len(w.b)
			return nil, false, false
		}
		j += k
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for p := j - 1; p >= start && w.b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			break
		}
		j++
	}
	raw = w.b[start:j]
	w.i = j + 1
	return raw, bytes.IndexByte(raw, '\\') >= 0, true
}

// key reads a member name at w.i, unescaped when it needs to be.
func (w *jsonWalk) key() ([]byte, bool) {
	raw, escaped, ok := w.str()
	if !ok || !escaped {
		return raw, ok
	}
	w.keyBuf = unquote(w.keyBuf[:0], raw)
	return w.keyBuf, true
}

// value walks the value at w.i, found under key; it returns false when
// the text ends early or is not JSON.
func (w *jsonWalk) value(key []byte) bool {
	w.ws()
	if w.i >= len(w.b) {
		return false
	}
	switch w.b[w.i] {
	case '"':
		raw, escaped, ok := w.str()
		if ok && textKey(key) {
			w.sink.leaf(raw, escaped)
		}
		return ok
	case '[':
		return w.array(key, false)
	case '{':
		_, _, _, ok := w.object(false)
		return ok
	default:
		return w.scalar()
	}
}

// scalar skips a number, true, false or null.
func (w *jsonWalk) scalar() bool {
	start := w.i
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ',', ']', '}', ' ', '\t', '\n', '\r':
			return w.i > start
		case '"', '[', '{', ':':
			return false
		}
		w.i++
	}
	return w.i > start
}

// array walks the list at w.i. With messages set, each element is a chat
// message and gets its framing counted.
func (w *jsonWalk) array(key []byte, messages bool) bool {
	w.i++ // [
	w.ws()
	if w.i < len(w.b) && w.b[w.i] == ']' {
		w.i++
		return true
	}
	for {
		w.ws()
		if messages && w.i < len(w.b) && w.b[w.i] == '{' {
			role, roleEsc, named, ok := w.object(true)
			if !ok {
				return false
			}
			w.sink.message(role, roleEsc, named)
		} else {
			if messages {
				w.sink.message(nil, false, false)
			}
			if !w.value(key) {
				return false
			}
		}
		w.ws()
		if w.i >= len(w.b) {
			return false
		}
		switch w.b[w.i] {
		case ',':
			w.i++
		case ']':
			w.i++
			return true
		default:
			return false
		}
	}
}

// object walks the object at w.i. For a chat message (message set) it also
// reports the raw content of its last string role and whether its last
// string name is non-empty, as a decode into a map would see them.
func (w *jsonWalk) object(message bool) (role []byte, roleEscaped, named, ok bool) {
	w.i++ // {
	w.ws()
	if w.i < len(w.b) && w.b[w.i] == '}' {
		w.i++
		return nil, false, false, true
	}
	for {
		w.ws()
		if w.i >= len(w.b) || w.b[w.i] != '"' {
			return nil, false, false, false
		}
		k, ok := w.key()
		if !ok {
			return nil, false, false, false
		}
		w.ws()
		if w.i >= len(w.b) || w.b[w.i] != ':' {
			return nil, false, false, false
		}
		w.i++
		w.ws()
		switch {
		case skippedKey(k):
			if !w.skip() {
				return nil, false, false, false
			}
		case message && (string(k) == "role" || string(k) == "name"):
			isRole := string(k) == "role"
			if w.i < len(w.b) && w.b[w.i] == '"' {
				raw, esc, ok := w.str()
				if !ok {
					return nil, false, false, false
				}
				if isRole {
					role, roleEscaped = raw, esc
				} else {
					named = len(raw) > 0
					w.sink.leaf(raw, esc)
				}
				break
			}
			if isRole {
				role = nil // a non-string role is no role
			} else {
				named = false
			}
			if !w.value(k) {
				return nil, false, false, false
			}
		default:
			if !w.value(k) {
				return nil, false, false, false
			}
		}
		w.ws()
		if w.i >= len(w.b) {
			return nil, false, false, false
		}
		switch w.b[w.i] {
		case ',':
			w.i++
		case '}':
			w.i++
			return role, roleEscaped, named, true
		default:
			return nil, false, false, false
		}
	}
}

// skip passes over the value at w.i without reporting anything in it.
func (w *jsonWalk) skip() bool {
	sink := w.sink
	w.sink = nopSink{}
	ok := w.value(nil)
	w.sink = sink
	return ok
}

type nopSink struct{}

func (nopSink) leaf([]byte, bool)          {}
func (nopSink) message([]byte, bool, bool) {}

// countIDs counts the integers of a pre-tokenized prompt or input:
// [1,2,3] or [[1,2],[3]]; other shapes count zero (their text is walked).
// Null elements count, as encoding/json decodes them into a []float64.
func countIDs(raw []byte) int {
	w := jsonWalk{b: raw, sink: nopSink{}}
	w.ws()
	if w.i >= len(w.b) || w.b[w.i] != '[' {
		return 0
	}
	elems, numbers, nested := 0, true, 0
	w.i++
	w.ws()
	if w.i < len(w.b) && w.b[w.i] == ']' {
		return 0
	}
	for w.i < len(w.b) {
		w.ws()
		if w.i >= len(w.b) {
			return 0
		}
		elems++
		switch w.b[w.i] {
		case '[':
			n, ok := numberList(&w)
			if !ok {
				return 0
			}
			numbers = false
			nested += n
		case '"', '{':
			numbers = false
			if !w.skip() {
				return 0
			}
		case 't', 'f':
			numbers = false
			if !w.scalar() {
				return 0
			}
		default:
			if !w.scalar() {
				return 0
			}
		}
		w.ws()
		if w.i >= len(w.b) {
			return 0
		}
		if w.b[w.i] == ']' {
			break
		}
		if w.b[w.i] != ',' {
			return 0
		}
		w.i++
	}
	if numbers {
		return elems
	}
	return nested
}

// numberList reads the list at w.i and returns its length when every
// element is a number or null, else 0.
func numberList(w *jsonWalk) (int, bool) {
	w.i++ // [
	w.ws()
	if w.i < len(w.b) && w.b[w.i] == ']' {
		w.i++
		return 0, true
	}
	n, all := 0, true
	for w.i < len(w.b) {
		w.ws()
		if w.i >= len(w.b) {
			return 0, false
		}
		n++
		switch c := w.b[w.i]; {
		case c == '"' || c == '[' || c == '{' || c == 't' || c == 'f':
			all = false
			if !w.skip() {
				return 0, false
			}
		default:
			if !w.scalar() {
				return 0, false
			}
		}
		w.ws()
		if w.i >= len(w.b) {
			return 0, false
		}
		switch w.b[w.i] {
		case ',':
			w.i++
		case ']':
			w.i++
			if !all {
				return 0, true
			}
			return n, true
		default:
			return 0, false
		}
	}
	return 0, false
}

// unquote appends the decoded content of a JSON string (raw, without its
// quotes) to dst, as encoding/json decodes it: escapes resolved, a UTF-16
// surrogate pair joined, a lone surrogate and every byte that is not
// UTF-8 turned into U+FFFD.
func unquote(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\' && i+1 < len(raw):
			e := raw[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				dst = append(dst, e)
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(raw[i:])
				if r < 0 {
					return dst
				}
				i += 4
				if utf16.IsSurrogate(rune(r)) {
					r2 := rune(-1)
					if i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						r2 = rune(hex4(raw[i+2:]))
					}
					if dec := utf16.DecodeRune(rune(r), r2); dec != utf8.RuneError {
						i += 6
						dst = utf8.AppendRune(dst, dec)
						break
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, rune(r))
			default:
				return dst
			}
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			i += size
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) int {
	if len(b) < 4 {
		return -1
	}
	v := 0
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		v = v<<4 | int(c)
	}
	return v
}
