package kql

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	quotedIdent     = regexp.MustCompile(`"[^"]*"`)
	validIdent      = regexp.MustCompile(`^"[A-Za-z_][A-Za-z0-9_]*"$`)
	pgParam         = regexp.MustCompile(`\$([0-9]+)`)
	numberToken     = regexp.MustCompile(`\b[0-9]+(\.[0-9]+)?\b`)
	groupByOrdinals = regexp.MustCompile(`(?m)^ *GROUP BY [0-9]+(, [0-9]+)*$`)
)

// internalNumbers are the only numbers the generator writes into SQL itself.
var internalNumbers = map[string]bool{"0": true, "1": true, "32": true, "1000000": true}

// FuzzCompile checks that Compile never panics and that any SQL it produces
// is one SELECT whose literals all travel as arguments: the text has no
// string literal, no comment, no statement separator, only well-formed
// quoted identifiers, placeholders matching the arguments, and no number
// but the generator's own; and it does not change when the query's string
// literals do.
func FuzzCompile(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.kql")
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(src))
	}
	for _, tc := range execCases {
		f.Add(tc.query)
	}
	f.Add(`MoatGatewayLogs | where Url == "x' OR 1=1; --" | project Id`)
	f.Add(`MoatGatewayLogs | where CallerId has "a\"b" | take 99`)
	f.Add(`MoatGatewayLogs | where TimeGenerated > ago(7d) and CallerId == "x' --" | summarize count(), sum(TotalTokens) by bin(TimeGenerated, 1d)`)
	f.Fuzz(func(t *testing.T, query string) {
		for _, d := range dialects {
			// The rollup plan produces different SQL; check it too.
			rolled, err := CompileOptions(query, d, testNow, Options{Rollup: true})
			if err == nil {
				checkSQL(t, d, rolled)
			}
			q, err := Compile(query, d, testNow)
			if err != nil {
				if _, ok := err.(*Error); !ok && !strings.Contains(err.Error(), "bind kql") {
					t.Fatalf("%s: error is %T, want *Error: %v", d, err, err)
				}
				continue
			}
			checkSQL(t, d, q)
			if alt, ok := replaceStrings(query); ok {
				if q2, err := Compile(alt, d, testNow); err == nil && q2.SQL != q.SQL {
					t.Fatalf("%s: SQL depends on string literal contents:\n%s\n---\n%s", d, q.SQL, q2.SQL)
				}
			}
		}
	})
}

func checkSQL(t *testing.T, d Dialect, q *Query) {
	t.Helper()
	sql := q.SQL
	if !strings.HasPrefix(sql, "SELECT ") && !strings.HasPrefix(sql, "WITH ") {
		t.Fatalf("%s: SQL does not start with SELECT: %q", d, sql)
	}
	for _, bad := range []string{"'", ";", "--", "/*", "\x00"} {
		if strings.Contains(sql, bad) {
			t.Fatalf("%s: SQL contains %q:\n%s", d, bad, sql)
		}
	}
	if len(q.Columns) == 0 {
		t.Fatalf("%s: no result columns", d)
	}
	for _, id := range quotedIdent.FindAllString(sql, -1) {
		if !validIdent.MatchString(id) {
			t.Fatalf("%s: bad identifier %s in:\n%s", d, id, sql)
		}
	}
	if strings.Count(sql, `"`)%2 != 0 {
		t.Fatalf("%s: unbalanced quotes:\n%s", d, sql)
	}
	bare := quotedIdent.ReplaceAllString(sql, `""`)
	bare = groupByOrdinals.ReplaceAllString(bare, "GROUP BY") // positions of result columns
	if d == SQLite {
		if n := strings.Count(bare, "?"); n != len(q.Args) {
			t.Fatalf("sqlite: %d placeholders, %d args", n, len(q.Args))
		}
	} else {
		maxN := 0
		for _, m := range pgParam.FindAllStringSubmatch(bare, -1) {
			n, _ := strconv.Atoi(m[1])
			maxN = max(maxN, n)
		}
		if maxN != len(q.Args) {
			t.Fatalf("postgres: highest placeholder $%d, %d args", maxN, len(q.Args))
		}
		bare = pgParam.ReplaceAllString(bare, "$$")
	}
	for _, n := range numberToken.FindAllString(bare, -1) {
		if !internalNumbers[n] {
			t.Fatalf("%s: literal number %s in SQL:\n%s", d, n, sql)
		}
	}
}

// replaceStrings rewrites every string literal of query to "zz".
func replaceStrings(query string) (string, bool) {
	toks, err := lex(query)
	if err != nil {
		return "", false
	}
	var sb strings.Builder
	last := 0
	changed := false
	for _, tk := range toks {
		if tk.kind != tkString {
			continue
		}
		sb.WriteString(query[last:tk.pos])
		sb.WriteString(`"zz"`)
		last = tk.pos + len(tk.text)
		changed = true
	}
	sb.WriteString(query[last:])
	return sb.String(), changed
}
