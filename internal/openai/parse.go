package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
// handling. Go's encoding/json matches member names case-insensitively
// (with Unicode simple folding, so "max_toKens" with a Kelvin sign matches)
// and keeps the last duplicate; upstreams are case-sensitive and need not
// keep the last. Either difference lets a body be reserved as one thing and
// billed as another, so a second or case-variant member of these is refused.
var actedFields = []string{
	"model", "stream", "stream_options", "max_tokens", "max_completion_tokens", "max_output_tokens", "n",
	"messages", "prompt", "input", "instructions", "previous_response_id", "background", "system",
}

// streamOptionFields are the stream_options members moat acts on.
var streamOptionFields = []string{"include_usage"}

// ParseRequest decodes the fields moat needs from a JSON body, exactly as a
// case-sensitive upstream reads them: it refuses duplicate and case-variant
// members of the fields moat acts on (a *FieldError). The error message is
// safe to show to the client: it names the JSON problem only.
func ParseRequest(body []byte) (*Request, error) {
	trimmed := bytes.Trim(body, " \t\r\n") // JSON whitespace only
	if len(trimmed) == 0 {
		return nil, errors.New("request body is empty")
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return nil, errInvalidJSON
		}
		return nil, ErrBodyNotObject
	}
	var r Request
	if err := json.Unmarshal(trimmed, &r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, fmt.Errorf("invalid type for '%s': expected %s", te.Field, te.Type.String())
		}
		return nil, errInvalidJSON
	}
	// The body is valid JSON now, so one cheap pass over its top-level
	// member names (no value decoded twice) finds the ambiguous ones.
	var streamOptions []byte
	err := checkMembers(trimmed, actedFields, func(name string, val []byte) {
		if name == "stream_options" && val[0] == '{' {
			streamOptions = val
		}
	})
	if err != nil {
		return nil, err
	}
	if streamOptions != nil {
		if err := checkMembers(streamOptions, streamOptionFields, nil); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Param = "stream_options." + fe.Param
				fe.Msg = strings.Replace(fe.Msg, "'", "'stream_options.", 1)
			}
			return nil, err
		}
	}
	return &r, nil
}

var errInvalidJSON = errors.New("request body is not valid JSON")

// checkMembers walks the members of the valid JSON object obj and refuses
// a member that repeats one of fields, or differs from one only by case as
// encoding/json folds it. seen, if set, gets each exact match's raw value.
func checkMembers(obj []byte, fields []string, seen func(name string, val []byte)) error {
	found := make(map[string]bool, 4)
	i := 1 // after '{'
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] == '}' {
			return nil
		}
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
		end := skipString(obj, i)
		key := obj[i+1 : end-1]
		i = skipSpace(obj, end)
		i = skipSpace(obj, i+1) // ':'
		vend := skipValue(obj, i)
		k := unescapeKey(key)
		if name := foldMatch(k, fields); name != "" {
			if k != name {
				return &FieldError{Param: name, Msg: fmt.Sprintf(
					"'%s' differs from the field '%s' only by case; send '%s' exactly once", k, name, name)}
			}
			if found[name] {
				return &FieldError{Param: name, Msg: fmt.Sprintf("'%s' appears more than once; send it exactly once", name)}
			}
			found[name] = true
			if seen != nil {
				seen(name, obj[i:vend])
			}
		}
		i = vend
	}
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

// foldMatch returns the field that key names under encoding/json's
// case-insensitive matching, or "".
func foldMatch(key string, fields []string) string {
	for _, f := range fields {
		if strings.EqualFold(key, f) {
			return f
		}
	}
	return ""
}
