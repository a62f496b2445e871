package openai

import (
	"bytes"
	"errors"
)

// errNotObject is returned by the splicing functions for a body that is not
// a JSON object.
var errNotObject = errors.New("body is not a JSON object")

// SetMember returns obj, a valid JSON object, with its top-level member name
// set to the raw JSON value val: replaced in place when present, inserted
// first when not. Every other byte is kept, so a body moat changes one
// member of is forwarded without being decoded and re-encoded. obj must
// have name at most once (ParseRequest refuses duplicates of the fields
// moat changes).
func SetMember(obj []byte, name string, val []byte) ([]byte, error) {
	start := skipSpace(obj, 0)
	if start >= len(obj) || obj[start] != '{' {
		return nil, errNotObject
	}
	if vs, ve, ok := findMember(obj, start, name); ok {
		out := make([]byte, 0, len(obj)-(ve-vs)+len(val))
		out = append(out, obj[:vs]...)
		out = append(out, val...)
		return append(out, obj[ve:]...), nil
	}
	out := make([]byte, 0, len(obj)+len(name)+len(val)+4)
	out = append(out, obj[:start+1]...)
	out = append(out, '"')
	out = append(out, name...)
	out = append(out, '"', ':')
	out = append(out, val...)
	if rest := skipSpace(obj, start+1); rest < len(obj) && obj[rest] != '}' {
		out = append(out, ',')
	}
	return append(out, obj[start+1:]...), nil
}

// findMember finds the value of the top-level member name of the object
// starting at obj[start], as [vs, ve).
func findMember(obj []byte, start int, name string) (vs, ve int, ok bool) {
	for m := range objectMembers(obj, start) {
		if keyIs(m.name, name) {
			return m.start, m.end, true
		}
	}
	return 0, 0, false
}

// WithUsageRequested returns body with stream_options.include_usage set to
// true, keeping every other byte: the other members, their order and
// spacing, and any other stream_options member.
func WithUsageRequested(body []byte) ([]byte, error) {
	start := skipSpace(body, 0)
	if start >= len(body) || body[start] != '{' {
		return nil, errNotObject
	}
	opts := []byte(`{"include_usage":true}`)
	if vs, ve, ok := findMember(body, start, "stream_options"); ok {
		switch v := body[vs:ve]; {
		case bytes.Equal(v, []byte("null")):
		case len(v) > 0 && v[0] == '{':
			var err error
			if opts, err = SetMember(v, "include_usage", []byte("true")); err != nil {
				return nil, err
			}
		default:
			return nil, errors.New("stream_options is not an object")
		}
	}
	return SetMember(body, "stream_options", opts)
}
