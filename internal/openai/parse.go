package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"strings"
	"unicode/utf8"
)

// ErrBodyNotObject is returned when a JSON body is valid JSON but not an object.
var ErrBodyNotObject = errors.New("request body must be a JSON object")

// FieldError is a body member moat refuses to read because the upstream
// could read it differently: a duplicate, or a case variant of a field moat
// acts on. Param names the field for the OpenAI error's "param".
type FieldError struct {
	Param string
	Msg   string
}

func (e *FieldError) Error() string { return e.Msg }

// actedFields are the top-level members whose value moat acts on: the
// reservation (max_*, n, and the prompt text), routing (model) and stream
// handling; they are the members of Request, in the order of the field
// indexes below. Go's encoding/json matches member names case-insensitively
// (with Unicode simple folding, so "max_toKens" with a Kelvin sign matches)
// and keeps the last duplicate; upstreams are case-sensitive and need not
// keep the last. Either difference lets a body be reserved as one thing and
// billed as another, so a second or case-variant member of these is refused.
var actedFields = []string{
	"model", "stream", "stream_options", "max_tokens", "max_completion_tokens", "max_output_tokens", "n",
	"messages", "prompt", "input", "instructions", "previous_response_id", "background", "system",
}

// Indexes into actedFields.
const (
	fieldModel = iota
	fieldStream
	fieldStreamOptions
	fieldMaxTokens
	fieldMaxCompletionTokens
	fieldMaxOutputTokens
	fieldN
	fieldMessages
	fieldPrompt
	fieldInput
	fieldInstructions
	fieldPreviousResponseID
	fieldBackground
	fieldSystem
)

// streamOptionFields are the stream_options members moat acts on.
var streamOptionFields = []string{"include_usage"}

// ParseRequest decodes the fields moat needs from a JSON body, exactly as a
// case-sensitive upstream reads them: it refuses duplicate and case-variant
// members of the fields moat acts on (a *FieldError). The error message is
// safe to show to the client: it names the JSON problem only.
//
// It reads the body as json.Unmarshal into a Request would, with the same
// results and the same errors (FuzzParseRequestMatchesUnmarshal holds it
// to that), but without reflection: validJSON checks the whole body as
// json.Valid would, then one walk over the top-level members takes the
// scalars moat acts on and keeps messages, prompt, input and system as
// sub-slices of body, not copies; the body is never changed in place, so
// they stay valid. The Request and its integers are one allocation.
func ParseRequest(body []byte) (*Request, error) {
	trimmed := bytes.Trim(body, " \t\r\n") // JSON whitespace only
	if len(trimmed) == 0 {
		return nil, errors.New("request body is empty")
	}
	if !validJSON(trimmed) {
		return nil, errInvalidJSON
	}
	if trimmed[0] != '{' {
		return nil, ErrBodyNotObject
	}
	p := new(parsed)
	if err := p.members(trimmed); err != nil {
		return nil, err
	}
	return &p.Request, nil
}

var errInvalidJSON = errors.New("request body is not valid JSON")

// parsed is a Request with room for what its pointers point to, so that
// a parse allocates once.
type parsed struct {
	Request
	ints [4]int // max_tokens, max_completion_tokens, max_output_tokens, n
	so   StreamOptions
}

// members walks the top-level members of the valid JSON object obj. As
// json.Unmarshal does, it decodes every member whose name matches a field
// up to case, and reports the first value of the wrong type; then, as a
// case-sensitive upstream needs, it refuses the first case variant or
// duplicate of a field, and of stream_options' include_usage.
func (p *parsed) members(obj []byte) error {
	var typeErr, fieldErr error
	var seen [fieldSystem + 1]bool
	var streamOptions []byte
	for m := range objectMembers(obj, 0) {
		rawKey := m.name
		val := obj[m.start:m.end:m.end] // capped: an append to a raw field cannot write into the body
		key, escaped := rawKey, bytes.IndexByte(rawKey, '\\') >= 0
		if escaped {
			key = []byte(unescapeKey(rawKey))
		}
		f, exact := fieldIndex(key, actedFields)
		if f < 0 {
			continue
		}
		if typeErr == nil {
			typeErr = p.set(f, val)
		}
		if fieldErr != nil {
			continue
		}
		name := actedFields[f]
		switch {
		case !exact:
			k := string(key)
			fieldErr = &FieldError{Param: name, Msg: fmt.Sprintf(
				"'%s' differs from the field '%s' only by case; send '%s' exactly once", k, name, name)}
		case seen[f]:
			fieldErr = &FieldError{Param: name, Msg: fmt.Sprintf("'%s' appears more than once; send it exactly once", name)}
		default:
			seen[f] = true
			if f == fieldStreamOptions && val[0] == '{' {
				streamOptions = val
			}
		}
	}
	if typeErr != nil {
		return typeErr
	}
	if fieldErr != nil {
		return fieldErr
	}
	if streamOptions != nil {
		return checkStreamOptions(streamOptions)
	}
	return nil
}

// fieldIndex returns the index in fields of the field key names under
// encoding/json's matching (an exact name first, then one equal under
// Unicode case folding) and whether the match is exact, or -1.
func fieldIndex(key []byte, fields []string) (int, bool) {
	for i, f := range fields {
		if string(key) == f {
			return i, true
		}
	}
	for i, f := range fields {
		if foldEqual(key, f) {
			return i, false
		}
	}
	return -1, false
}

// foldEqual is strings.EqualFold(string(key), f) without converting key.
func foldEqual(key []byte, f string) bool {
	for _, c := range key { // the common case: ASCII names, compared byte by byte
		if c >= utf8.RuneSelf {
			return strings.EqualFold(string(key), f)
		}
	}
	if len(key) != len(f) {
		return false
	}
	for i, c := range key {
		if d := f[i]; c != d && lower(c) != lower(d) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// set decodes the valid JSON value val into field f as json.Unmarshal
// does: null leaves a string or a bool as it is and clears a pointer, and
// a raw field takes any value, null included.
func (p *parsed) set(f int, val []byte) error {
	r := &p.Request
	switch f {
	case fieldModel:
		return setString(&r.Model, val, f)
	case fieldInstructions:
		return setString(&r.Instructions, val, f)
	case fieldPreviousResponseID:
		return setString(&r.PreviousResponseID, val, f)
	case fieldStream:
		return setBool(&r.Stream, val, actedFields[f])
	case fieldBackground:
		return setBool(&r.Background, val, actedFields[f])
	case fieldMaxTokens:
		return p.setInt(&r.MaxTokens, 0, val, f)
	case fieldMaxCompletionTokens:
		return p.setInt(&r.MaxCompletionTokens, 1, val, f)
	case fieldMaxOutputTokens:
		return p.setInt(&r.MaxOutputTokens, 2, val, f)
	case fieldN:
		return p.setInt(&r.N, 3, val, f)
	case fieldMessages:
		r.Messages = val
	case fieldPrompt:
		r.Prompt = val
	case fieldInput:
		r.Input = val
	case fieldSystem:
		r.System = val
	case fieldStreamOptions:
		return p.setStreamOptions(val)
	}
	return nil
}

// typeError is the message ParseRequest gives for a json.UnmarshalTypeError
// on field, which expected a Go value of type want.
func typeError(field, want string) error {
	return fmt.Errorf("invalid type for '%s': expected %s", field, want)
}

func setString(dst *string, val []byte, f int) error {
	switch val[0] {
	case 'n':
		return nil
	case '"':
		*dst = unquote(val)
		return nil
	}
	return typeError(actedFields[f], "string")
}

// unquote decodes the valid JSON string val as encoding/json does,
// converting it directly when it holds no escape and is valid UTF-8.
func unquote(val []byte) string {
	raw := val[1 : len(val)-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw)
	}
	var s string
	_ = json.Unmarshal(val, &s) // val is valid JSON: it cannot fail
	return s
}

func setBool(dst *bool, val []byte, field string) error {
	switch val[0] {
	case 'n':
		return nil
	case 't', 'f':
		*dst = val[0] == 't'
		return nil
	}
	return typeError(field, "bool")
}

// setInt decodes an integer into *dst, stored in p.ints[slot]: like
// encoding/json into an *int, a number with a fraction or an exponent, or
// beyond int64, is the wrong type.
func (p *parsed) setInt(dst **int, slot int, val []byte, f int) error {
	if val[0] == 'n' {
		*dst = nil
		return nil
	}
	n, ok := parseInt(val)
	if !ok {
		return typeError(actedFields[f], "int")
	}
	p.ints[slot] = n
	*dst = &p.ints[slot]
	return nil
}

// parseInt reads a JSON number that is an integer within int64, as
// strconv.ParseInt(s, 10, 64) would.
func parseInt(b []byte) (int, bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if u > (1<<63)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case neg && u == 1<<63:
		return math.MinInt64, true
	case u < 1<<63:
		if neg {
			return -int(u), true
		}
		return int(u), true
	}
	return 0, false
}

// setStreamOptions decodes stream_options: null clears it, an object is
// read member by member (include_usage, matched up to case), anything
// else is the wrong type.
func (p *parsed) setStreamOptions(val []byte) error {
	switch val[0] {
	case 'n':
		p.StreamOptions = nil
		return nil
	case '{':
	default:
		return typeError("stream_options", "openai.StreamOptions")
	}
	if p.StreamOptions == nil {
		p.StreamOptions = &p.so
	}
	var typeErr error
	eachMember(val, func(key, v []byte) {
		if f, _ := fieldIndex(key, streamOptionFields); f >= 0 && typeErr == nil {
			typeErr = setBool(&p.StreamOptions.IncludeUsage, v, "stream_options.include_usage")
		}
	})
	return typeErr
}

// checkStreamOptions refuses a case variant or a duplicate of an
// include_usage member in the valid stream_options object obj.
func checkStreamOptions(obj []byte) error {
	var err error
	seen := false
	eachMember(obj, func(key, _ []byte) {
		f, exact := fieldIndex(key, streamOptionFields)
		if f < 0 || err != nil {
			return
		}
		const name = "stream_options.include_usage"
		switch {
		case !exact: // only the name sent is qualified, as it always was
			err = &FieldError{Param: name, Msg: fmt.Sprintf(
				"'stream_options.%s' differs from the field 'include_usage' only by case; send 'include_usage' exactly once", key)}
		case seen:
			err = &FieldError{Param: name, Msg: fmt.Sprintf("'%s' appears more than once; send it exactly once", name)}
		}
		seen = true
	})
	return err
}

// member is one member of a JSON object: its name as sent (between its
// quotes, escapes left in) and its value, obj[start:end].
type member struct {
	name       []byte
	start, end int
}

// objectMembers yields the members of the JSON object that starts at
// obj[open] ('{'), in order. It walks JSON known to be valid (or stops
// where the object stops being one: at the end of obj or where a name
// should be), so it checks nothing itself; every walk of an object's
// members in this package goes through it.
func objectMembers(obj []byte, open int) iter.Seq[member] {
	return func(yield func(member) bool) {
		for i := open + 1; ; {
			i = skipSpace(obj, i)
			if i < len(obj) && obj[i] == ',' {
				i = skipSpace(obj, i+1)
			}
			if i >= len(obj) || obj[i] != '"' {
				return // '}', or not an object after all
			}
			end := skipString(obj, i)
			name := obj[i+1 : end-1]
			i = skipSpace(obj, skipSpace(obj, end)+1) // past ':'
			vend := skipValue(obj, i)
			if !yield(member{name: name, start: i, end: vend}) {
				return
			}
			i = vend
		}
	}
}

// eachMember calls fn with the unescaped name and the raw value of each
// member of the valid JSON object obj.
func eachMember(obj []byte, fn func(key, val []byte)) {
	for m := range objectMembers(obj, 0) {
		key := m.name
		if bytes.IndexByte(key, '\\') >= 0 {
			key = []byte(unescapeKey(key))
		}
		fn(key, obj[m.start:m.end])
	}
}

// keyIs reports whether the raw member name key is name once unescaped,
// converting it only when it holds an escape.
func keyIs(key []byte, name string) bool {
	if bytes.IndexByte(key, '\\') < 0 {
		return string(key) == name
	}
	return unescapeKey(key) == name
}

// unescapeKey decodes a member name as encoding/json and upstreams do, so
// "max\u005ftokens" is max_tokens.
func unescapeKey(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	var s string
	if json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s) != nil {
		return string(raw)
	}
	return s
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] ('"').
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}
