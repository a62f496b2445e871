package openai

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidJSONMatchesEncodingJSON(t *testing.T) {
	bodies := []string{
		``, ` `, `{}`, `[]`, `{"a":1}`, `{"a":1,}`, `[1,]`, `[,1]`, `{"a"}`, `{"a":}`, `{,}`, `{"a":1 "b":2}`,
		`"x"`, `"\u00e9\uD83D\ude00"`, `"\u00g0"`, `"\x"`, `"\/\b\f\n\r\t\"\\"`, "\"a\x01\"", "\"\xff\xfe\"",
		`"unterminated`, `"\`, `"\u12`, `0`, `-0`, `01`, `-`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-`, `1e`, `-1.5e-10`,
		`true`, `false`, `null`, `tru`, `nul`, `truex`, `nulll`, `True`, `[true,false,null]`, `{"a":[{"b":{}}]}`,
		`{"a":1}}`, `[[]]]`, `[{]}`, `{[]}`, ` {"a" : [ 1 , 2 ] } `, "{\"a\":1}\x00", `1 2`, `{}{}`,
		"\t\n\r 1 \t\n\r", "\v1", `{"a":-}`, `[-1,-0.0,0e0]`, `[00]`, `[1.0e+00]`,
	}
	for _, s := range bodies {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid: %v", s, got, want)
		}
	}
	for _, depth := range []int{maxNesting - 1, maxNesting, maxNesting + 1} {
		for _, open := range []string{"[", `{"a":`} {
			closer := "]"
			if open != "[" {
				closer = "}"
			}
			s := []byte(strings.Repeat(open, depth) + "1" + strings.Repeat(closer, depth))
			if got, want := validJSON(s), json.Valid(s); got != want {
				t.Errorf("validJSON at depth %d of %s = %v, json.Valid: %v", depth, open, got, want)
			}
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,"x\u00e9",true,null]}`, `[`, `"\u00"`, `-0.1E+2`, `{"a":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid: %v", b, got, want)
		}
	})
}
