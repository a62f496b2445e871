package rbac

import "strings"

// pattern is a compiled Azure-style wildcard: '*' matches any run of
// characters, slashes included, and nothing else is special. Compiling once
// at load splits the pattern on '*' so that a check is a prefix test, a
// suffix test and ordered substring searches, with no allocation.
type pattern struct {
	raw string
	// parts are the literal pieces between stars; for "a*b*c" they are a, b, c.
	parts []string
	// star is true when the pattern holds at least one '*'.
	star bool
	// fold selects ASCII case-insensitive comparison (data actions); scopes
	// compare deployment names exactly.
	fold bool
}

// compilePattern compiles p. Azure compares data actions case-insensitively;
// deployment scopes are compared exactly so that a scope can only ever grant
// less than a looser comparison would (fail closed).
func compilePattern(p string, fold bool) pattern {
	cp := pattern{raw: p, fold: fold, star: strings.Contains(p, "*")}
	if fold {
		cp.parts = strings.Split(lowerASCII(p), "*")
	} else {
		cp.parts = strings.Split(p, "*")
	}
	return cp
}

// match reports whether s matches the pattern.
func (p *pattern) match(s string) bool {
	if !p.star {
		return p.equal(s, p.parts[0])
	}
	first, last := p.parts[0], p.parts[len(p.parts)-1]
	if len(s) < len(first)+len(last) {
		return false
	}
	if !p.equal(s[:len(first)], first) || !p.equal(s[len(s)-len(last):], last) {
		return false
	}
	// The middle pieces must appear in order, without overlapping the prefix
	// or the suffix. Leftmost matching is optimal for '*'-only globs.
	rest := s[len(first) : len(s)-len(last)]
	for _, mid := range p.parts[1 : len(p.parts)-1] {
		i := p.index(rest, mid)
		if i < 0 {
			return false
		}
		rest = rest[i+len(mid):]
	}
	return true
}

func (p *pattern) equal(s, lit string) bool {
	if !p.fold {
		return s == lit
	}
	return equalFoldASCII(s, lit)
}

func (p *pattern) index(s, lit string) int {
	if !p.fold {
		return strings.Index(s, lit)
	}
	for i := 0; i+len(lit) <= len(s); i++ {
		if equalFoldASCII(s[i:i+len(lit)], lit) {
			return i
		}
	}
	return -1
}

// equalFoldASCII reports whether s equals lit, where lit is already lower
// case, folding only ASCII letters. Data actions are ASCII; folding bytes
// keeps byte offsets stable, which Unicode folding would not.
func equalFoldASCII(s, lit string) bool {
	if len(s) != len(lit) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lit[i] {
			return false
		}
	}
	return true
}

// lowerASCII lowers ASCII letters only, matching equalFoldASCII.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// MatchDataAction reports whether the data action matches the Azure-style
// pattern: '*' matches any substring (slashes included) and letters compare
// case-insensitively. It compiles the pattern on every call; the Authorizer
// uses precompiled patterns instead.
func MatchDataAction(pat, action string) bool {
	p := compilePattern(pat, true)
	return p.match(action)
}
