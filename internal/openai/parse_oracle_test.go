package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// parseRequestByUnmarshal is ParseRequest as it was before it walked the
// body itself: json.Unmarshal into a Request, then a pass over the member
// names for the ambiguous ones. It is the oracle the walk must match, in
// its results and in its errors, to the letter.
func parseRequestByUnmarshal(body []byte) (*Request, error) {
	trimmed := []byte(strings.Trim(string(body), " \t\r\n"))
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
	var streamOptions []byte
	err := oracleCheckMembers(trimmed, actedFields, func(name string, val []byte) {
		if name == "stream_options" && val[0] == '{' {
			streamOptions = val
		}
	})
	if err != nil {
		return nil, err
	}
	if streamOptions != nil {
		if err := oracleCheckMembers(streamOptions, streamOptionFields, nil); err != nil {
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

func oracleCheckMembers(obj []byte, fields []string, seen func(name string, val []byte)) error {
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
		name := ""
		for _, f := range fields {
			if strings.EqualFold(k, f) {
				name = f
				break
			}
		}
		if name != "" {
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

// sameParse fails t unless ParseRequest and the oracle agree on body:
// the same Request, or the same error message and FieldError param.
func sameParse(t *testing.T, body []byte) {
	t.Helper()
	got, gerr := ParseRequest(body)
	want, werr := parseRequestByUnmarshal(body)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("ParseRequest(%q) err = %v, encoding/json: %v", body, gerr, werr)
	}
	if gerr != nil {
		if gerr.Error() != werr.Error() {
			t.Fatalf("ParseRequest(%q) err = %q, encoding/json: %q", body, gerr, werr)
		}
		var gfe, wfe *FieldError
		if errors.As(gerr, &gfe) != errors.As(werr, &wfe) || (gfe != nil && *gfe != *wfe) {
			t.Fatalf("ParseRequest(%q) err = %#v, encoding/json: %#v", body, gerr, werr)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseRequest(%q) = %+v, encoding/json: %+v", body, *got, *want)
	}
}

// TestParseRequestMatchesUnmarshal: the cases where encoding/json's way
// of reading each field type is easy to miss.
func TestParseRequestMatchesUnmarshal(t *testing.T) {
	for _, body := range []string{
		`{"max_tokens":1.5}`, `{"max_tokens":1e3}`, `{"max_tokens":1.0}`, `{"max_tokens":-7}`, `{"max_tokens":-0}`,
		`{"max_tokens":9223372036854775807}`, `{"max_tokens":9223372036854775808}`,
		`{"max_tokens":-9223372036854775808}`, `{"max_tokens":-9223372036854775809}`,
		`{"max_tokens":99999999999999999999999}`, `{"max_tokens":null}`, `{"max_tokens":"5"}`, `{"max_tokens":true}`,
		`{"max_tokens":[1]}`, `{"max_tokens":{}}`, `{"n":2,"max_completion_tokens":0,"max_output_tokens":3}`,
		`{"model":null}`, `{"model":5}`, `{"model":{}}`, `{"model":[]}`, `{"model":true}`,
		`{"model":"a\u00e9\ud800b\"\\/\n"}`, "{\"model\":\"caf\xc3\xa9 \xff\"}", `{"model":"gpt-4o"}`,
		`{"stream":"true"}`, `{"stream":1}`, `{"stream":null}`, `{"background":true}`, `{"background":{}}`,
		`{"stream_options":"x"}`, `{"stream_options":1}`, `{"stream_options":[]}`, `{"stream_options":true}`,
		`{"stream_options":{"include_usage":"yes"}}`, `{"stream_options":{"INCLUDE_USAGE":true}}`,
		`{"stream_options":{"include_usage":null}}`, `{"stream_options":{}}`, `{"stream_options":null}`,
		`{"stream_options":{"Include_Usage":1}}`, `{"stream_options":{"include_usage":true,"Include_Usage":false}}`,
		`{"Stream_Options":{"include_usage":2}}`,
		`{"messages":null}`, `{"messages":"x"}`, `{"prompt":[1,2]}`, `{"input":{"a":1}}`, `{"system":" s "}`,
		`{"instructions":"be brief","previous_response_id":"resp_1"}`, `{"instructions":1}`,
		`{"MODEL":"a","max_tokens":"x"}`, `{"max_tokens":"x","MODEL":"a"}`, `{"n":1,"n":"x"}`, `{"n":"x","N":1}`,
		`{"max_tokens":1,"MAX_TOKENS":"x"}`, `{"model":"a","stream":1,"n":"x"}`,
		"{\"max_to\u212aens\":\"x\"}", `{"m\u006fdel":"a"}`, `{"\u006dodel":5}`,
		` {"model":"a"} `, "\t{}\n", `{"a":1,"a":2}`, `[]`, `"x"`, `1`, `null`, `{`, `{"model":"a",}`, `{} x`,
		`{"max_tokens":01}`, `{"model":"a` + "\x01" + `"}`,
	} {
		sameParse(t, []byte(body))
	}
}

// FuzzParseRequestMatchesUnmarshal: for any body, the walk reads what
// json.Unmarshal read, and fails with the same message.
func FuzzParseRequestMatchesUnmarshal(f *testing.F) {
	for _, s := range []string{
		`{"max_tokens":600,"MAX_TOKENS":1}`,
		`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"n":2,"max_completion_tokens":5}`,
		`{"messages":[{"role":"user","content":"hi"}],"max_tokens":1}`,
		`{"input":"x","instructions":"y","previous_response_id":"r","background":false,"system":[{"type":"text","text":"s"}]}`,
		"{\"max_to\u212aens\":1}", `{"stream_options":{"include_usage":1}}`, `{"n":1.5}`,
		`{"n":1,"n":2}`, `{}`, `[]`, `{"a":`, `{"model":"\u00e9\ud83d\ude00"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { sameParse(t, body) })
}

// BenchmarkParseRequestBySize compares the walk with the json.Unmarshal
// parser it replaced on chat bodies of growing prompts (b.SetBytes: MB/s).
func BenchmarkParseRequestBySize(b *testing.B) {
	for _, kib := range []int{1, 16, 256} {
		text := strings.Repeat("Say hello in one short sentence, \\\"please\\\". ", kib*1024/44+1)
		body := []byte(`{"model":"gpt-4o","messages":[{"role":"system","content":"You are a helpful assistant."},` +
			`{"role":"user","content":"` + text + `"}],"max_tokens":20,"stream":false}`)
		for _, p := range []struct {
			name  string
			parse func([]byte) (*Request, error)
		}{{"walk", ParseRequest}, {"unmarshal", parseRequestByUnmarshal}} {
			b.Run(fmt.Sprintf("%dKiB/%s", kib, p.name), func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.parse(body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
