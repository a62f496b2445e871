package kql

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// tokKind classifies tokens.
type tokKind int

const (
	tkEOF      tokKind = iota
	tkIdent            // names and keywords, including "project-away", "in~"
	tkBang             // "!" followed by a word: "!contains", "!in", "!in~"
	tkString           // '…', "…", @'…', @"…"
	tkInt              // 123
	tkReal             // 1.5, 1e3
	tkTimespan         // 5m, 1.5h, 100ms
	tkDatetime         // datetime(…)
	tkOp               // punctuation and symbolic operators
)

// token is one lexeme; pos is its byte offset in the query.
type token struct {
	kind tokKind
	text string // identifier, operator, or raw literal text
	pos  int
	str  string
	i    int64
	f    float64
	d    time.Duration
	t    time.Time
}

// dashedWords are the KQL operator names that contain a dash; the lexer
// joins "project" "-" "away" only for these, so "a-b" stays a subtraction.
var dashedWords = map[string]bool{
	"project-away": true, "project-keep": true, "project-rename": true, "project-reorder": true,
	"mv-expand": true, "mv-apply": true, "make-series": true, "top-nested": true,
	"top-hitters": true, "parse-where": true, "parse-kv": true, "make-graph": true,
}

// timespanUnits maps KQL timespan suffixes to durations.
var timespanUnits = map[string]time.Duration{
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"ms": time.Millisecond, "milli": time.Millisecond, "millis": time.Millisecond,
	"millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"microsecond": time.Microsecond, "microseconds": time.Microsecond,
	"tick": 100 * time.Nanosecond, "ticks": 100 * time.Nanosecond,
}

// lexer turns a query into tokens.
type lexer struct {
	src  string
	pos  int
	toks []token
}

// lex tokenizes src completely; the last token is tkEOF.
func lex(src string) ([]token, error) {
	l := &lexer{src: src}
	for {
		if err := l.skipSpace(); err != nil {
			return nil, err
		}
		if l.pos >= len(l.src) {
			l.toks = append(l.toks, token{kind: tkEOF, pos: l.pos})
			return l.toks, nil
		}
		if err := l.next(); err != nil {
			return nil, err
		}
	}
}

func (l *lexer) errorf(pos int, format string, args ...any) error {
	return newError(l.src, pos, fmt.Sprintf(format, args...))
}

func (l *lexer) skipSpace() error {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			l.pos++
		case strings.HasPrefix(l.src[l.pos:], "//"):
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		default:
			return nil
		}
	}
	return nil
}

func isLetter(c byte) bool { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func (l *lexer) peekByte(off int) byte {
	if l.pos+off < len(l.src) {
		return l.src[l.pos+off]
	}
	return 0
}

func (l *lexer) word() string {
	start := l.pos
	for l.pos < len(l.src) && (isLetter(l.src[l.pos]) || isDigit(l.src[l.pos])) {
		l.pos++
	}
	return l.src[start:l.pos]
}

func (l *lexer) next() error {
	start := l.pos
	c := l.src[l.pos]
	switch {
	case c == '@' && (l.peekByte(1) == '\'' || l.peekByte(1) == '"'):
		return l.verbatim()
	case isLetter(c):
		return l.ident()
	case isDigit(c) || (c == '.' && isDigit(l.peekByte(1))):
		return l.number()
	case c == '\'' || c == '"':
		s, err := l.quoted()
		if err != nil {
			return err
		}
		l.toks = append(l.toks, token{kind: tkString, text: l.src[start:l.pos], pos: start, str: s})
		return nil
	case c == '!':
		switch {
		case l.peekByte(1) == '=' || l.peekByte(1) == '~':
			l.pos += 2
			l.toks = append(l.toks, token{kind: tkOp, text: l.src[start:l.pos], pos: start})
			return nil
		case isLetter(l.peekByte(1)):
			l.pos++
			w := l.word()
			if w == "in" && l.peekByte(0) == '~' {
				l.pos++
				w = "in~"
			}
			l.toks = append(l.toks, token{kind: tkBang, text: "!" + w, pos: start})
			return nil
		}
		return l.errorf(start, "unexpected character '!'")
	}
	for _, op := range []string{"==", "=~", "!=", "<=", ">=", "..", "<>"} {
		if strings.HasPrefix(l.src[l.pos:], op) {
			if op == "<>" {
				return l.errorf(start, `unsupported operator "<>"; use "!="`)
			}
			l.pos += len(op)
			l.toks = append(l.toks, token{kind: tkOp, text: op, pos: start})
			return nil
		}
	}
	if strings.IndexByte("|()[],;=<>+-*/%.:", c) >= 0 {
		l.pos++
		l.toks = append(l.toks, token{kind: tkOp, text: string(c), pos: start})
		return nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
	return l.errorf(start, "unexpected character %q", r)
}

func (l *lexer) ident() error {
	start := l.pos
	w := l.word()
	// Dashed operator names: project-away, mv-expand, …
	if l.peekByte(0) == '-' && isLetter(l.peekByte(1)) {
		save := l.pos
		l.pos++
		rest := l.word()
		if dashedWords[w+"-"+rest] {
			w = w + "-" + rest
		} else {
			l.pos = save
		}
	}
	if w == "in" && l.peekByte(0) == '~' {
		l.pos++
		w = "in~"
	}
	if w == "datetime" {
		save := l.pos
		_ = l.skipSpace()
		if l.peekByte(0) == '(' {
			return l.datetime(start)
		}
		l.pos = save
	}
	l.toks = append(l.toks, token{kind: tkIdent, text: w, pos: start})
	return nil
}

// datetime lexes the argument of datetime(…), which KQL writes unquoted
// (datetime(2026-01-02T03:04:05Z)) or quoted.
func (l *lexer) datetime(start int) error {
	l.pos++ // (
	_ = l.skipSpace()
	var raw string
	argPos := l.pos
	if c := l.peekByte(0); c == '\'' || c == '"' {
		s, err := l.quoted()
		if err != nil {
			return err
		}
		raw = s
		_ = l.skipSpace()
		if l.peekByte(0) != ')' {
			return l.errorf(l.pos, "expected ) after datetime string")
		}
	} else {
		end := strings.IndexAny(l.src[l.pos:], ")\n")
		if end < 0 || l.src[l.pos+end] != ')' {
			return l.errorf(start, "unterminated datetime(…)")
		}
		raw = strings.TrimSpace(l.src[l.pos : l.pos+end])
		l.pos += end
	}
	l.pos++ // )
	t, err := parseDatetime(raw)
	if err != nil {
		return l.errorf(argPos, "invalid datetime %q", raw)
	}
	l.toks = append(l.toks, token{kind: tkDatetime, text: l.src[start:l.pos], pos: start, t: t})
	return nil
}

// datetimeLayouts are the accepted datetime(…) spellings; values without a
// zone are UTC, as in KQL.
var datetimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
}

func parseDatetime(s string) (time.Time, error) {
	for _, layout := range datetimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("parse datetime %q", s)
}

func (l *lexer) number() error {
	start := l.pos
	isReal := false
	for isDigit(l.peekByte(0)) {
		l.pos++
	}
	if l.peekByte(0) == '.' && isDigit(l.peekByte(1)) {
		isReal = true
		l.pos++
		for isDigit(l.peekByte(0)) {
			l.pos++
		}
	}
	if c := l.peekByte(0); c == 'e' || c == 'E' {
		n := 1
		if s := l.peekByte(1); s == '+' || s == '-' {
			n = 2
		}
		if isDigit(l.peekByte(n)) {
			isReal = true
			l.pos += n
			for isDigit(l.peekByte(0)) {
				l.pos++
			}
		}
	}
	num := l.src[start:l.pos]
	if isLetter(l.peekByte(0)) {
		unitPos := l.pos
		unit := l.word()
		mult, ok := timespanUnits[unit]
		if !ok {
			return l.errorf(unitPos, "unknown timespan unit %q (use d, h, m, s, ms, microsecond or tick)", unit)
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return l.errorf(start, "invalid number %q", num)
		}
		v := f * float64(mult)
		if math.IsInf(v, 0) || math.Abs(v) > float64(maxTimespan) {
			return l.errorf(start, "timespan %s out of range", l.src[start:l.pos])
		}
		l.toks = append(l.toks, token{kind: tkTimespan, text: l.src[start:l.pos], pos: start, d: time.Duration(math.Round(v))})
		return nil
	}
	if isReal {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsInf(f, 0) {
			return l.errorf(start, "invalid number %q", num)
		}
		l.toks = append(l.toks, token{kind: tkReal, text: num, pos: start, f: f})
		return nil
	}
	i, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return l.errorf(start, "integer %s out of range", num)
	}
	l.toks = append(l.toks, token{kind: tkInt, text: num, pos: start, i: i})
	return nil
}

// maxTimespan bounds timespan literals so datetime arithmetic cannot
// overflow time.Duration (about 292 years).
const maxTimespan = 100 * 365 * 24 * time.Hour

// quoted reads a '…' or "…" string with backslash escapes.
func (l *lexer) quoted() (string, error) {
	start := l.pos
	q := l.src[l.pos]
	l.pos++
	var sb strings.Builder
	for {
		if l.pos >= len(l.src) || l.src[l.pos] == '\n' {
			return "", l.errorf(start, "unterminated string")
		}
		c := l.src[l.pos]
		switch {
		case c == q:
			l.pos++
			return sb.String(), nil
		case c == '\\':
			if l.pos+1 >= len(l.src) {
				return "", l.errorf(start, "unterminated string")
			}
			e := l.src[l.pos+1]
			switch e {
			case '\\', '\'', '"':
				sb.WriteByte(e)
			case 'n':
				sb.WriteByte('\n')
			case 't':
				sb.WriteByte('\t')
			case 'r':
				sb.WriteByte('\r')
			default:
				return "", l.errorf(l.pos, "unknown escape \\%c", e)
			}
			l.pos += 2
		default:
			sb.WriteByte(c)
			l.pos++
		}
	}
}

// verbatim reads @'…' or @"…", where only a doubled quote is special.
func (l *lexer) verbatim() error {
	start := l.pos
	q := l.src[l.pos+1]
	l.pos += 2
	var sb strings.Builder
	for {
		if l.pos >= len(l.src) || l.src[l.pos] == '\n' {
			return l.errorf(start, "unterminated string")
		}
		c := l.src[l.pos]
		if c == q {
			if l.peekByte(1) == q {
				sb.WriteByte(q)
				l.pos += 2
				continue
			}
			l.pos++
			l.toks = append(l.toks, token{kind: tkString, text: l.src[start:l.pos], pos: start, str: sb.String()})
			return nil
		}
		sb.WriteByte(c)
		l.pos++
	}
}
