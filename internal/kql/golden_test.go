package kql

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testNow is the fixed "now" of all tests.
var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var dialects = []Dialect{SQLite, Postgres}

// TestGolden compiles every testdata/*.kql for each dialect and compares the
// SQL, arguments, columns and render hint (or the error) with
// testdata/<name>.<dialect>.golden. Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.kql")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.kql")
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dialects {
			name := strings.TrimSuffix(filepath.Base(file), ".kql")
			t.Run(name+"/"+d.String(), func(t *testing.T) {
				got := goldenText(string(src), d)
				path := strings.TrimSuffix(file, ".kql") + "." + d.String() + ".golden"
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./internal/kql -update)", err)
				}
				if diff := cmp.Diff(string(want), got); diff != "" {
					t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
				}
			})
		}
	}
}

// goldenText renders a compile result for a golden file.
func goldenText(src string, d Dialect) string {
	var sb strings.Builder
	q, err := Compile(src, d, testNow)
	if err != nil {
		fmt.Fprintf(&sb, "-- error\n%v\n", err)
		return sb.String()
	}
	fmt.Fprintf(&sb, "-- sql\n%s\n-- args\n", q.SQL)
	for i, a := range q.Args {
		fmt.Fprintf(&sb, "%d: %s\n", i+1, formatArg(a))
	}
	sb.WriteString("-- columns\n")
	for _, c := range q.Columns {
		fmt.Fprintf(&sb, "%s %s\n", c.Name, c.Type)
	}
	if q.Render != "" {
		fmt.Fprintf(&sb, "-- render\n%s\n", q.Render)
	}
	return sb.String()
}

func formatArg(a any) string {
	switch v := a.(type) {
	case time.Time:
		return "time.Time " + v.Format(time.RFC3339Nano)
	case string:
		return fmt.Sprintf("string %q", v)
	}
	return fmt.Sprintf("%T %v", a, a)
}
