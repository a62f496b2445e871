// Package redact finds personal data in prompts and completions and
// rewrites it: built-in rules for e-mail addresses, phone numbers
// (international and Japanese), payment card numbers (Luhn-checked) and
// Japanese My Number (check digit verified), plus custom RE2 patterns from
// config. Every rule is a Go regexp (RE2: linear in the input, so no
// pattern can make a call take exponential time) with an optional validator
// that rejects candidates a regexp cannot tell apart, such as digit runs
// that fail the Luhn check.
//
// Redaction of a JSON document rewrites the text of its strings only, so
// valid JSON stays valid; other text is rewritten as it is. The request log
// stores bodies through a Set (log.redact), and guardrails (guard.go) use
// the same rules to block, mask or flag calls.
//
// It is a leaf: it imports nothing of moat's.
package redact

import (
	"fmt"
	"regexp"
	"slices"
)

// Names of the built-in rules, as config spells them.
const (
	Email    = "email"
	Phone    = "phone"
	Card     = "card"
	MyNumber = "my_number"
)

// BuiltinNames lists the built-in rules in the order they are documented.
func BuiltinNames() []string { return []string{Email, Phone, Card, MyNumber} }

// Rule is one kind of data to find: a name (the class written into the
// replacement "[REDACTED:<name>]"), a pattern, and an optional validator
// that each candidate match must pass.
type Rule struct {
	name  string
	res   []*regexp.Regexp
	valid func(m []byte) bool
	// minDigits and needAt are cheap tests a text must pass before the
	// patterns run: most prompt text has no '@' and few digits.
	minDigits int
	needAt    bool
}

// Name is the rule's class name.
func (r Rule) Name() string { return r.name }

var (
	// emailRE: a dot-atom local part, then a domain of labels ending in a
	// letters-only top-level label, so that "pkg@1.2.3" is not an address.
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,63}\b`)
	// intlPhoneRE: "+" and a country code, then groups of digits separated
	// by single spaces, dots or hyphens, optionally in parentheses. The
	// digit count (E.164: 8 to 15) is checked by validPhone.
	intlPhoneRE = regexp.MustCompile(`\+[1-9][0-9]{0,3}(?:[ .\-]?\(?[0-9]{1,5}\)?){1,6}`)
	// jpPhoneRE: a Japanese number written with its leading 0 and
	// separators, "03-1234-5678", "(03) 1234-5678", "0120-123-456",
	// "090-1234-5678", or a mobile number written solid "09012345678".
	jpPhoneRE = regexp.MustCompile(`(?:\(0[0-9]{1,4}\) ?|\b0[0-9]{1,4}[ \-])[0-9]{1,4}[ \-][0-9]{3,4}\b|\b0[5789]0[0-9]{8}\b`)
	// cardRE: 13 to 19 digits, optionally grouped by single spaces or
	// hyphens; validCard checks the issuer digit and the Luhn sum.
	cardRE = regexp.MustCompile(`\b[0-9](?:[ \-]?[0-9]){12,18}\b`)
	// myNumberRE: 12 digits, solid or as 4-4-4; validMyNumber checks the
	// check digit.
	myNumberRE = regexp.MustCompile(`\b[0-9]{4}[ \-]?[0-9]{4}[ \-]?[0-9]{4}\b`)
)

// Builtin returns the built-in rule called name.
func Builtin(name string) (Rule, bool) {
	switch name {
	case Email:
		return Rule{name: Email, res: []*regexp.Regexp{emailRE}, needAt: true}, true
	case Phone:
		return Rule{name: Phone, res: []*regexp.Regexp{intlPhoneRE, jpPhoneRE}, valid: validPhone, minDigits: 8}, true
	case Card:
		return Rule{name: Card, res: []*regexp.Regexp{cardRE}, valid: validCard, minDigits: 13}, true
	case MyNumber:
		return Rule{name: MyNumber, res: []*regexp.Regexp{myNumberRE}, valid: validMyNumber, minDigits: 12}, true
	}
	return Rule{}, false
}

// Custom compiles a custom rule. The pattern is Go RE2 syntax; one that
// matches the empty string is refused, as it would match everywhere. The
// name must be lower-case letters, digits and underscores, as it is
// written into replacements, log columns and metric labels.
func Custom(name, pattern string) (Rule, error) {
	if !ValidName(name) {
		return Rule{}, fmt.Errorf("rule name %q: want 1 to 40 characters of a-z, 0-9 and _", name)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return Rule{}, fmt.Errorf("rule %s: %w", name, err)
	}
	if re.Match(nil) {
		return Rule{}, fmt.Errorf("rule %s: the pattern matches the empty string", name)
	}
	return Rule{name: name, res: []*regexp.Regexp{re}}, nil
}

// ValidName reports whether name may name a rule.
func ValidName(name string) bool {
	if name == "" || len(name) > 40 {
		return false
	}
	for _, c := range []byte(name) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// Match is one finding: the byte span [Start, End) and the rule's name.
type Match struct {
	Start, End int
	Rule       string
}

// textStats are what the rules' cheap tests read, counted once per text.
type textStats struct {
	digits int
	at     bool
}

func statsOf(text []byte) textStats {
	var st textStats
	for _, b := range text {
		switch {
		case b >= '0' && b <= '9':
			st.digits++
		case b == '@':
			st.at = true
		}
	}
	return st
}

// find appends r's validated matches in text.
func (r *Rule) find(out []Match, text []byte, st textStats) []Match {
	if st.digits < r.minDigits || (r.needAt && !st.at) {
		return out
	}
	for _, re := range r.res {
		if r.valid == nil {
			for _, loc := range re.FindAllIndex(text, -1) {
				out = append(out, Match{loc[0], loc[1], r.name})
			}
			continue
		}
		// A candidate that fails validation is not skipped whole: the
		// regexp consumed it, so "0 4111 1111 1111 1111" (no issuer starts
		// with 0) would hide the card number after the 0. The search goes
		// on from just after its first separator instead. Slicing there
		// keeps \b's meaning: the byte before is not a word character.
		for pos := 0; pos < len(text); {
			loc := re.FindIndex(text[pos:])
			if loc == nil {
				break
			}
			s, e := pos+loc[0], pos+loc[1]
			if r.valid(text[s:e]) {
				out = append(out, Match{s, e, r.name})
				pos = e
				continue
			}
			pos = e
			for i := s; i < e; i++ {
				if c := text[i]; c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' {
					pos = i + 1
					break
				}
			}
		}
	}
	return out
}

// digitsOf returns the ASCII digits of m, in a fixed array (no allocation).
func digitsOf(m []byte) ([20]byte, int) {
	var d [20]byte
	n := 0
	for _, b := range m {
		if b >= '0' && b <= '9' {
			if n == len(d) {
				return d, n + 1 // too many: callers reject
			}
			d[n] = b - '0'
			n++
		}
	}
	return d, n
}

// validPhone accepts international numbers of 8 to 15 digits (E.164) and
// Japanese numbers of 10 or 11 digits starting with 0.
func validPhone(m []byte) bool {
	_, n := digitsOf(m)
	if m[0] == '+' {
		return n >= 8 && n <= 15
	}
	return n == 10 || n == 11
}

// validCard accepts 13 to 19 digits that start with an issuer digit in use
// (2 Mastercard, 3 Amex/JCB/Diners, 4 Visa, 5 Mastercard, 6 Discover/
// UnionPay) and pass the Luhn check, which one random digit run in ten
// passes.
func validCard(m []byte) bool {
	d, n := digitsOf(m)
	if n < 13 || n > 19 || d[0] < 2 || d[0] > 6 {
		return false
	}
	return luhn(d[:n])
}

// luhn reports whether the digits pass the Luhn (mod 10) check.
func luhn(d []byte) bool {
	sum := 0
	for i := range d {
		v := int(d[len(d)-1-i])
		if i%2 == 1 {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// validMyNumber checks the check digit of a 12-digit Japanese Individual
// Number (My Number), as the Cabinet Office ordinance defines it: with P(n)
// the n-th digit from the right of the first eleven and Q(n) = n+1 for
// n ≤ 6, n−5 otherwise, the check digit is 11 − (Σ P(n)·Q(n) mod 11), or 0
// when the remainder is 0 or 1.
func validMyNumber(m []byte) bool {
	d, n := digitsOf(m)
	if n != 12 {
		return false
	}
	sum := 0
	for k := 1; k <= 11; k++ {
		q := k + 1
		if k >= 7 {
			q = k - 5
		}
		sum += int(d[11-k]) * q
	}
	check := 0
	if r := sum % 11; r > 1 {
		check = 11 - r
	}
	return int(d[11]) == check
}

// sortMatches orders matches by start (longest first on ties) and drops
// those that overlap an earlier one.
func sortMatches(ms []Match) []Match {
	if len(ms) < 2 {
		return ms
	}
	slices.SortFunc(ms, func(a, b Match) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return b.End - a.End
	})
	out := ms[:1]
	for _, m := range ms[1:] {
		if m.Start >= out[len(out)-1].End {
			out = append(out, m)
		}
	}
	return out
}

// Rename returns r under another name, for a configured rule that reuses a
// built-in matcher.
func Rename(r Rule, name string) (Rule, error) {
	if !ValidName(name) {
		return Rule{}, fmt.Errorf("rule name %q: want 1 to 40 characters of a-z, 0-9 and _", name)
	}
	r.name = name
	return r, nil
}
