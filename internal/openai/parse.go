package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"messages", "prompt", "input", "instructions",
}

// streamOptionFields are the stream_options members moat acts on.
var streamOptionFields = []string{"include_usage"}

// ParseRequest decodes the fields moat needs from a JSON body, exactly as a
// case-sensitive upstream reads them: it refuses duplicate and case-variant
// members of the fields moat acts on (a *FieldError). The error message is
// safe to show to the client: it names the JSON problem only.
func ParseRequest(body []byte) (*Request, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("request body is empty")
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return nil, errInvalidJSON
		}
		return nil, ErrBodyNotObject
	}
	members, err := scanObject(trimmed, actedFields)
	if err != nil {
		return nil, err
	}
	var r Request
	for name, raw := range members {
		if err := r.set(name, raw); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

var errInvalidJSON = errors.New("request body is not valid JSON")

// set decodes one acted-on member into r.
func (r *Request) set(name string, raw json.RawMessage) error {
	var dst any
	switch name {
	case "model":
		dst = &r.Model
	case "stream":
		dst = &r.Stream
	case "stream_options":
		if err := checkStreamOptions(raw); err != nil {
			return err
		}
		dst = &r.StreamOptions
	case "max_tokens":
		dst = &r.MaxTokens
	case "max_completion_tokens":
		dst = &r.MaxCompletionTokens
	case "max_output_tokens":
		dst = &r.MaxOutputTokens
	case "n":
		dst = &r.N
	case "messages":
		r.Messages = raw
		return nil
	case "prompt":
		r.Prompt = raw
		return nil
	case "input":
		r.Input = raw
		return nil
	case "instructions":
		dst = &r.Instructions
	default:
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := name
			if te.Field != "" {
				field += "." + te.Field
			}
			return fmt.Errorf("invalid type for '%s': expected %s", field, te.Type.String())
		}
		return errInvalidJSON
	}
	return nil
}

// checkStreamOptions applies the duplicate and case rules inside
// stream_options, whose include_usage decides whether usage is captured.
func checkStreamOptions(raw json.RawMessage) error {
	if len(raw) == 0 || raw[0] != '{' {
		return nil // null, or a type error reported by the decode
	}
	_, err := scanObject(raw, streamOptionFields)
	var fe *FieldError
	if errors.As(err, &fe) {
		fe.Param = "stream_options." + fe.Param
		fe.Msg = strings.Replace(fe.Msg, "'", "'stream_options.", 1)
	}
	return err
}

// scanObject walks the members of the JSON object in b once. It returns the
// raw values of the members named in fields (matched exactly), and refuses
// a member that repeats one of them or differs from one only by case.
func scanObject(b []byte, fields []string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errInvalidJSON
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errInvalidJSON
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errInvalidJSON
		}
		name := foldMatch(key, fields)
		if name == "" {
			continue
		}
		if key != name {
			return nil, &FieldError{Param: name, Msg: fmt.Sprintf(
				"'%s' differs from the field '%s' only by case; send '%s' exactly once", key, name, name)}
		}
		if _, dup := out[name]; dup {
			return nil, &FieldError{Param: name, Msg: fmt.Sprintf("'%s' appears more than once; send it exactly once", name)}
		}
		out[name] = raw
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errInvalidJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errInvalidJSON // trailing data after the object
	}
	return out, nil
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
