package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDocsYAMLSnippets loads every YAML block in README.md and docs/*.md,
// as CoreDNS's readme test does, so a documented config cannot rot.
//
// The convention (also in docs/config.md, "YAML in the docs"):
//   - ```yaml is a whole moat config: it must decode strictly and validate
//     (secrets and files that only exist on a real host may be absent, as
//     with --no-secrets);
//   - ```yaml fragment is a deliberately partial moat config (a section
//     shown on its own, naming upstreams it does not show): its keys and
//     value types are checked, but not the rules that span sections;
//   - ```yaml other is another program's YAML (an OpenTelemetry Collector,
//     Kubernetes): it must be YAML.
func TestDocsYAMLSnippets(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../../README.md")
	total := 0
	for _, f := range files {
		for _, s := range yamlSnippets(t, f) {
			total++
			name := fmt.Sprintf("%s:%d", filepath.Base(f), s.line)
			switch s.kind {
			case "other":
				var v any
				if err := yaml.Unmarshal([]byte(s.text), &v); err != nil {
					t.Errorf("%s: not YAML: %v", name, err)
				}
				continue
			case "fragment":
				if err := decode([]byte(s.text), &Config{}, true); err != nil {
					t.Errorf("%s: invalid config fragment:\n%v", name, err)
				}
				continue
			case "":
			default:
				t.Errorf("%s: unknown snippet kind %q (want fragment or other)", name, s.kind)
				continue
			}
			if _, err := parse([]byte(s.text), LoadOptions{NoSecrets: true}, false); err != nil {
				t.Errorf("%s: invalid config (fence it ```yaml fragment if it is partial on purpose):\n%v", name, err)
			}
		}
	}
	if total == 0 {
		t.Fatal("no YAML snippets found; is the glob right?")
	}
}

type snippet struct {
	line int
	kind string // "", "fragment" or "other"
	text string
}

func yamlSnippets(t *testing.T, path string) []snippet {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []snippet
	var cur *snippet
	var buf strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```yaml"):
			info := strings.Fields(strings.TrimPrefix(trimmed, "```"))
			cur = &snippet{line: n}
			if len(info) > 1 {
				cur.kind = info[1]
			}
			buf.Reset()
		case cur != nil && strings.HasPrefix(trimmed, "```"):
			cur.text = buf.String()
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			buf.WriteString(line + "\n")
		}
	}
	return out
}
