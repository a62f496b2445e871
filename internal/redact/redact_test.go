package redact

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func builtin(t testing.TB, name string) Rule {
	t.Helper()
	r, ok := Builtin(name)
	if !ok {
		t.Fatalf("no builtin %q", name)
	}
	return r
}

// TestBuiltins checks each built-in rule alone on true and false positives:
// want is the matched text, "" for none.
func TestBuiltins(t *testing.T) {
	tests := []struct {
		rule, name, text, want string
	}{
		{Email, "plain", "mail alice@example.com now", "alice@example.com"},
		{Email, "plus and subdomains", "Bob.Smith+tag@mail.example.co.jp.", "Bob.Smith+tag@mail.example.co.jp"},
		{Email, "in Japanese text", "連絡先はtaro@example.jpです", "taro@example.jp"},
		{Email, "package version", "go get pkg@1.2.3", ""},
		{Email, "mention", "ask @alice", ""},
		{Email, "no top-level domain", "root@localhost", ""},
		{Email, "one-letter tld", "a@b.c", ""},

		{Phone, "international spaced", "call +44 20 7946 0958 today", "+44 20 7946 0958"},
		{Phone, "international parentheses", "+1 (555) 123-4567", "+1 (555) 123-4567"},
		{Phone, "international Japan", "+81 90-1234-5678", "+81 90-1234-5678"},
		{Phone, "international solid", "+819012345678", "+819012345678"},
		{Phone, "Tokyo landline", "TEL 03-1234-5678", "03-1234-5678"},
		{Phone, "area code in parentheses", "(03) 1234-5678", "(03) 1234-5678"},
		{Phone, "mobile", "携帯は090-1234-5678です", "090-1234-5678"},
		{Phone, "mobile solid", "09012345678", "09012345678"},
		{Phone, "toll free", "0120-123-456", "0120-123-456"},
		{Phone, "api-version date", "api-version=2024-10-21", ""},
		{Phone, "short international", "+12 34", ""},
		{Phone, "too long international", "+1 2345 6789 0123 4567", ""},
		{Phone, "ip address", "10.0.0.1", ""},
		{Phone, "postal code", "〒100-0001", ""},
		{Phone, "two groups", "012-3456", ""},
		{Phone, "too many digits", "03-12345-67890", ""},

		{Card, "visa", "card 4111111111111111 exp", "4111111111111111"},
		{Card, "visa spaced", "4111 1111 1111 1111", "4111 1111 1111 1111"},
		{Card, "mastercard hyphens", "5555-5555-5555-4444", "5555-5555-5555-4444"},
		{Card, "amex 15", "378282246310005", "378282246310005"},
		{Card, "jcb", "JCB 3530111333300000", "3530111333300000"},
		{Card, "discover", "6011111111111117", "6011111111111117"},
		{Card, "luhn fails", "4111111111111112", ""},
		{Card, "no issuer digit", "0000000000000000", ""},
		{Card, "too short", "411111111111", ""},
		{Card, "inside a longer number", "41111111111111110000000", ""},
		{Card, "unix micros", "1700000000000000", ""},
		{Card, "behind a rejected prefix", "ref 0 4111 1111 1111 1111", "4111 1111 1111 1111"},
		{Card, "behind a rejected solid prefix", "no. 0 4111111111111111 ", "4111111111111111"},
		{MyNumber, "behind a rejected group", "9999 1234 5678 9018", "1234 5678 9018"},

		{MyNumber, "solid", "個人番号123456789018です", "123456789018"},
		{MyNumber, "grouped", "1234-5678-9018", "1234-5678-9018"},
		{MyNumber, "spaced", "1234 5678 9018", "1234 5678 9018"},
		{MyNumber, "check digit 0", "000000000000", "000000000000"},
		{MyNumber, "wrong check digit", "123456789012", ""},
		{MyNumber, "13 digits", "1234567890183", ""},
		{MyNumber, "11 digits", "12345678901", ""},
	}
	for _, tt := range tests {
		t.Run(tt.rule+"/"+tt.name, func(t *testing.T) {
			ms := NewSet(builtin(t, tt.rule)).Find([]byte(tt.text))
			got := ""
			if len(ms) > 0 {
				got = tt.text[ms[0].Start:ms[0].End]
			}
			if got != tt.want {
				t.Errorf("Find(%q) = %q (%v), want %q", tt.text, got, ms, tt.want)
			}
		})
	}
}

func allBuiltins(t testing.TB) *Set {
	var rs []Rule
	for _, n := range BuiltinNames() {
		rs = append(rs, builtin(t, n))
	}
	return NewSet(rs...)
}

func TestCustom(t *testing.T) {
	tests := []struct {
		name, rule, pattern, text, want, err string
	}{
		{name: "employee id", rule: "employee_id", pattern: `EMP-[0-9]{6}`, text: "by EMP-123456.", want: "by [REDACTED:employee_id]."},
		{name: "no match", rule: "employee_id", pattern: `EMP-[0-9]{6}`, text: "EMP-12", want: "EMP-12"},
		{name: "bad syntax", rule: "x", pattern: `(`, err: "missing closing )"},
		{name: "matches empty", rule: "x", pattern: `a*`, err: "matches the empty string"},
		{name: "bad name", rule: "Bad Name", pattern: `a`, err: "rule name"},
		{name: "backreference is not RE2", rule: "x", pattern: `(a)\1`, err: "invalid escape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Custom(tt.rule, tt.pattern)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Custom: %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := NewSet(r).Text([]byte(tt.text))
			if string(got) != tt.want {
				t.Errorf("Text = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
		hits           []string
	}{
		{
			name: "chat messages",
			in:   `{"messages":[{"role":"user","content":"I am alice@example.com, card 4111 1111 1111 1111"}]}`,
			want: `{"messages":[{"role":"user","content":"I am [REDACTED:email], card [REDACTED:card]"}]}`,
			hits: []string{"email", "card"},
		},
		{
			name: "escaped text",
			in:   `{"content":"line\n\"alice\u0040example.com\"\tend"}`,
			want: `{"content":"line\n\"[REDACTED:email]\"\tend"}`,
			hits: []string{"email"},
		},
		{
			name: "number member",
			in:   `{"card":4111111111111111,"n":1.5}`,
			want: `{"card":"[REDACTED:card]","n":1.5}`,
			hits: []string{"card"},
		},
		{
			name: "member name",
			in:   `{"bob@example.org":true}`,
			want: `{"[REDACTED:email]":true}`,
			hits: []string{"email"},
		},
		{
			name: "japanese kept as is",
			in:   `{"content":"電話は03-1234-5678、マイナンバーは123456789018です"}`,
			want: `{"content":"電話は[REDACTED:phone]、マイナンバーは[REDACTED:my_number]です"}`,
			hits: []string{"phone", "my_number"},
		},
		{
			name: "nothing to do",
			in:   `{"model":"gpt-4o","max_tokens":4096,"api":"2024-10-21"}`,
			want: `{"model":"gpt-4o","max_tokens":4096,"api":"2024-10-21"}`,
		},
	}
	s := allBuiltins(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, hits := s.Body([]byte(tt.in))
			if string(got) != tt.want {
				t.Errorf("Body =\n %s\nwant\n %s", got, tt.want)
			}
			if diff := cmp.Diff(tt.hits, hits); diff != "" {
				t.Errorf("hits (-want +got):\n%s", diff)
			}
			if !json.Valid(got) {
				t.Errorf("output is not valid JSON: %s", got)
			}
		})
	}
}

// TestBodyNotJSON redacts a cut or non-JSON body as text.
func TestBodyNotJSON(t *testing.T) {
	got, _ := allBuiltins(t).Body([]byte(`{"content":"mail alice@example.com and 4111111111111111`))
	if want := `{"content":"mail [REDACTED:email] and [REDACTED:card]`; string(got) != want {
		t.Errorf("Body = %s, want %s", got, want)
	}
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{
		`{"messages":[{"role":"user","content":"alice@example.com 4111111111111111"}]}`,
		`{"a":"\u0040\"x\\","b":[1,2.5e10,-4111111111111111,null,true]}`,
		`"+81 90-1234-5678"`, `123456789018`, `{"x":"unterminated`, `[`, `"\ud800"`,
	} {
		f.Add([]byte(s))
	}
	s := allBuiltins(f)
	custom, err := Custom("secret", `s3cr[e3]t`)
	if err != nil {
		f.Fatal(err)
	}
	s = NewSet(append(s.rules, custom)...)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _ := s.JSON(in)
		if json.Valid(in) && !json.Valid(out) {
			t.Fatalf("JSON(%q) = %q: not valid JSON", in, out)
		}
		out2, _ := s.Body(in)
		if json.Valid(in) && !json.Valid(out2) {
			t.Fatalf("Body(%q) = %q: not valid JSON", in, out2)
		}
		// Redaction is idempotent on its own output.
		again, hits := s.Body(out2)
		if len(hits) > 0 {
			t.Fatalf("Body of redacted %q still matches %v: %q", out2, hits, again)
		}
	})
}
