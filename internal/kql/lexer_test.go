package kql

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tokSummary is the comparable part of a token.
type tokSummary struct {
	Kind tokKind
	Text string
	Val  any
}

func summarize(toks []token) []tokSummary {
	var out []tokSummary
	for _, tk := range toks {
		s := tokSummary{Kind: tk.kind, Text: tk.text}
		switch tk.kind {
		case tkString:
			s.Val = tk.str
		case tkInt:
			s.Val = tk.i
		case tkReal:
			s.Val = tk.f
		case tkTimespan:
			s.Val = tk.d
		case tkDatetime:
			s.Val = tk.t
		}
		out = append(out, s)
	}
	return out
}

func TestLex(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []tokSummary
	}{
		{"timespans", `5m 1.5h 100ms 2d 30s 10microsecond 1tick`, []tokSummary{
			{tkTimespan, "5m", 5 * time.Minute}, {tkTimespan, "1.5h", 90 * time.Minute},
			{tkTimespan, "100ms", 100 * time.Millisecond}, {tkTimespan, "2d", 48 * time.Hour},
			{tkTimespan, "30s", 30 * time.Second}, {tkTimespan, "10microsecond", 10 * time.Microsecond},
			{tkTimespan, "1tick", 100 * time.Nanosecond}, {tkEOF, "", nil}}},
		{"numbers and range", `1..5 2.5 1e3 .5`, []tokSummary{
			{tkInt, "1", int64(1)}, {tkOp, "..", nil}, {tkInt, "5", int64(5)}, {tkReal, "2.5", 2.5},
			{tkReal, "1e3", 1000.0}, {tkReal, ".5", 0.5}, {tkEOF, "", nil}}},
		{"datetimes", `datetime(2026-01-02) datetime( "2026-01-02T03:04:05Z" ) datetime(2026-01-02 03:04)`, []tokSummary{
			{tkDatetime, "datetime(2026-01-02)", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
			{tkDatetime, `datetime( "2026-01-02T03:04:05Z" )`, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			{tkDatetime, "datetime(2026-01-02 03:04)", time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)},
			{tkEOF, "", nil}}},
		{"dashed words and subtraction", `project-away a-b`, []tokSummary{
			{tkIdent, "project-away", nil}, {tkIdent, "a", nil}, {tkOp, "-", nil}, {tkIdent, "b", nil}, {tkEOF, "", nil}}},
		{"bang operators", `!contains !in~ !in != !~ in~`, []tokSummary{
			{tkBang, "!contains", nil}, {tkBang, "!in~", nil}, {tkBang, "!in", nil}, {tkOp, "!=", nil},
			{tkOp, "!~", nil}, {tkIdent, "in~", nil}, {tkEOF, "", nil}}},
		{"strings", `'a\'b' "c\"d\n" @'e\f''g' @"h""i"`, []tokSummary{
			{tkString, `'a\'b'`, "a'b"}, {tkString, `"c\"d\n"`, "c\"d\n"}, {tkString, `@'e\f''g'`, `e\f'g`},
			{tkString, `@"h""i"`, `h"i`}, {tkEOF, "", nil}}},
		{"comments", "a // comment | where\n| b", []tokSummary{
			{tkIdent, "a", nil}, {tkOp, "|", nil}, {tkIdent, "b", nil}, {tkEOF, "", nil}}},
		{"operators", `==,=~,<=,>=,<,>,=,(,),|,;,+,*,/,%`, []tokSummary{
			{tkOp, "==", nil}, {tkOp, ",", nil}, {tkOp, "=~", nil}, {tkOp, ",", nil}, {tkOp, "<=", nil}, {tkOp, ",", nil},
			{tkOp, ">=", nil}, {tkOp, ",", nil}, {tkOp, "<", nil}, {tkOp, ",", nil}, {tkOp, ">", nil}, {tkOp, ",", nil},
			{tkOp, "=", nil}, {tkOp, ",", nil}, {tkOp, "(", nil}, {tkOp, ",", nil}, {tkOp, ")", nil}, {tkOp, ",", nil},
			{tkOp, "|", nil}, {tkOp, ",", nil}, {tkOp, ";", nil}, {tkOp, ",", nil}, {tkOp, "+", nil}, {tkOp, ",", nil},
			{tkOp, "*", nil}, {tkOp, ",", nil}, {tkOp, "/", nil}, {tkOp, ",", nil}, {tkOp, "%", nil}, {tkEOF, "", nil}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			toks, err := lex(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, summarize(toks)); diff != "" {
				t.Errorf("tokens (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLexErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"bad character", "a\n  #", `line 2, col 3: unexpected character '#'`},
		{"lone bang", `a ! b`, `line 1, col 3: unexpected character '!'`},
		{"integer overflow", `99999999999999999999`, `line 1, col 1: integer 99999999999999999999 out of range`},
		{"timespan overflow", `999999d`, `line 1, col 1: timespan 999999d out of range`},
		{"unterminated datetime", `datetime(2026-01-01`, `line 1, col 1: unterminated datetime(…)`},
		{"unterminated verbatim", `@'abc`, `line 1, col 1: unterminated string`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lex(tc.src)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v, want %s", err, tc.want)
			}
		})
	}
}
