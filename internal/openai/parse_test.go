package openai

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestParseRequestRefusesAmbiguousMembers(t *testing.T) {
	tests := []struct {
		name, body, param string
	}{
		// The issue-17 attack: reserved as 1 by Go, billed as 600 upstream.
		{"case variant after", `{"max_tokens":600,"MAX_TOKENS":1}`, "max_tokens"},
		{"case variant before", `{"MAX_TOKENS":1,"max_tokens":600}`, "max_tokens"},
		{"case variant alone", `{"Max_Tokens":600}`, "max_tokens"},
		{"kelvin sign folds to k", "{\"max_to\u212aens\":600}", "max_tokens"},
		{"long s folds to s", "{\"\u017ftream\":true}", "stream"},
		{"duplicate", `{"max_completion_tokens":1,"max_completion_tokens":900}`, "max_completion_tokens"},
		{"duplicate n", `{"n":1,"n":8}`, "n"},
		{"case n", `{"n":1,"N":8}`, "n"},
		{"duplicate model", `{"model":"a","model":"b"}`, "model"},
		{"max_output_tokens variant", `{"max_output_tokens":1,"MAX_OUTPUT_TOKENS":9}`, "max_output_tokens"},
		{"stream variant", `{"stream":false,"Stream":true}`, "stream"},
		{"stream_options duplicate", `{"stream_options":{},"stream_options":{"include_usage":true}}`, "stream_options"},
		{"include_usage variant", `{"stream_options":{"include_usage":true,"Include_Usage":false}}`, "stream_options.include_usage"},
		{"include_usage duplicate", `{"stream_options":{"include_usage":true,"include_usage":false}}`, "stream_options.include_usage"},
		{"escaped case variant", `{"max_tokens":600,"max\u005FTOKENS":1}`, "max_tokens"},
		{"escaped duplicate", `{"n":1,"\u006e":8}`, "n"},
		{"messages duplicate", `{"messages":[{"role":"user","content":"long"}],"messages":[]}`, "messages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(tt.body))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseRequest(%s) = %v, want a FieldError", tt.body, err)
			}
			if fe.Param != tt.param {
				t.Errorf("param = %q, want %q (%s)", fe.Param, tt.param, fe.Msg)
			}
		})
	}
}

func TestParseRequestAccepts(t *testing.T) {
	one, six := 1, 600
	tests := []struct {
		name, body string
		want       Request
	}{
		{"plain", `{"model":"m","max_tokens":600,"n":1}`, Request{Model: "m", MaxTokens: &six, N: &one}},
		{"unrelated duplicates pass", `{"user":"a","user":"b","max_tokens":600}`, Request{MaxTokens: &six}},
		{"unrelated case variants pass", `{"Temperature":1,"temperature":0}`, Request{}},
		{"stream options", `{"stream":true,"stream_options":{"include_usage":true,"x":1,"x":2}}`,
			Request{Stream: true, StreamOptions: &StreamOptions{IncludeUsage: true}}},
		{"null stream options", `{"stream_options":null}`, Request{}},
		{"nested members are not top level", `{"metadata":{"max_tokens":1,"MAX_TOKENS":2}}`, Request{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestParseRequestErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"empty", ` `, "request body is empty"},
		{"array", `[1]`, ErrBodyNotObject.Error()},
		{"truncated", `{"messages":`, errInvalidJSON.Error()},
		{"trailing", `{"n":1} {}`, errInvalidJSON.Error()},
		{"type", `{"max_tokens":"x"}`, "invalid type for 'max_tokens': expected int"},
		{"nested type", `{"stream_options":{"include_usage":1}}`, "invalid type for 'stream_options.include_usage': expected bool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(tt.body))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzParseRequest checks that what moat acts on is what a case-sensitive,
// last-wins upstream reads: any body ParseRequest accepts gives the same
// values for every acted-on field as an exact-name decode.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"max_tokens":600,"MAX_TOKENS":1}`,
		`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"n":2,"max_completion_tokens":5}`,
		`{"messages":[{"role":"user","content":"hi"}],"max_tokens":1}`,
		"{\"max_to\u212aens\":1}",
		`{"n":1,"n":2}`,
		`{}`, `[]`, `{"a":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			return
		}
		var exact map[string]json.RawMessage // Go maps keep exact names; last wins
		if json.Unmarshal(body, &exact) != nil {
			t.Fatalf("accepted a body that is not a JSON object: %q", body)
		}
		check := func(name string, got any, dst any) {
			raw, ok := exact[name]
			if !ok {
				if !reflect.ValueOf(got).IsZero() {
					t.Fatalf("%s = %v but the body has no exact %q member: %q", name, got, name, body)
				}
				return
			}
			if err := json.Unmarshal(raw, dst); err != nil {
				t.Fatalf("%s accepted with undecodable value: %q", name, body)
			}
			if want := reflect.ValueOf(dst).Elem().Interface(); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s = %v, upstream reads %v: %q", name, got, want, body)
			}
		}
		var mt, mct, mot, n *int
		var model string
		var stream bool
		check("max_tokens", r.MaxTokens, &mt)
		check("max_completion_tokens", r.MaxCompletionTokens, &mct)
		check("max_output_tokens", r.MaxOutputTokens, &mot)
		check("n", r.N, &n)
		check("model", r.Model, &model)
		check("stream", r.Stream, &stream)
		if raw, ok := exact["stream_options"]; ok && r.StreamOptions != nil {
			var so map[string]json.RawMessage
			if json.Unmarshal(raw, &so) == nil {
				var iu bool
				if v, ok := so["include_usage"]; ok && json.Unmarshal(v, &iu) == nil && iu != r.StreamOptions.IncludeUsage {
					t.Fatalf("include_usage = %v, upstream reads %v: %q", r.StreamOptions.IncludeUsage, iu, body)
				}
			}
		}
	})
}
