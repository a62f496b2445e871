package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// placeholderSecret stands in for a secret that LoadOptions.NoSecrets lets
// go unresolved. It is long enough to pass every length rule a real secret
// must pass, and says what it is if it ever shows up.
const placeholderSecret = "moat-no-secrets-placeholder-0123456789abcdef0123456789abcdef"

// decode reads one YAML document into c. Before decoding, it walks the node
// tree against Config's fields, so every unknown key, every value of the
// wrong shape and every unresolvable secret is reported at once with its
// key path and line, in words a user knows (never a Go type name). The
// decode itself is then lenient: yaml.v3 collects type errors and goes on,
// so Validate still sees everything that did decode.
func decode(b []byte, c *Config, noSecrets bool) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return syntaxError{fmt.Errorf("decode: %s", strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return syntaxError{errors.New("decode: only one YAML document is allowed")}
	}
	w := walker{noSecrets: noSecrets}
	w.walk(&root, reflect.TypeFor[Config](), "")
	err := root.Decode(c)
	if len(w.errs) > 0 {
		// The walker saw every problem the decoder saw, and said it better.
		return errors.Join(w.errs...)
	}
	if err != nil {
		return fmt.Errorf("decode: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

// syntaxError is a document that is not YAML at all: nothing was decoded,
// so validating what was decoded would only add noise.
type syntaxError struct{ error }

// walker checks a YAML node tree against the shape of a Go type.
type walker struct {
	noSecrets bool
	errs      []error
}

var (
	lineRE          = regexp.MustCompile(`^line \d+: `)
	secretType      = reflect.TypeFor[Secret]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	// textUnmarshalerType: yaml.v3 decodes scalars into these via UnmarshalText.
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (w *walker) errf(n *yaml.Node, path, format string, a ...any) {
	if path == "" {
		path = "(top level)"
	}
	w.errs = append(w.errs, fmt.Errorf("line %d: %s: %s", n.Line, path, fmt.Sprintf(format, a...)))
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	switch {
	case t == secretType:
		w.secret(n, path)
		return
	case reflect.PointerTo(t).Implements(unmarshalerType), reflect.PointerTo(t).Implements(textUnmarshalerType):
		// Types that parse themselves (Duration, netip.Prefix, ...) are
		// checked by decoding the one value.
		w.scalar(n, t, path)
		return
	case t.Kind() == reflect.Interface:
		return // any shape is accepted
	}
	switch t.Kind() {
	case reflect.Struct:
		w.mapping(n, t, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.errf(n, path, "want a list, got %s", describe(n))
			return
		}
		for i, c := range n.Content {
			w.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.errf(n, path, "want a mapping of names to values, got %s", describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.walk(n.Content[i+1], t.Elem(), joinPath(path, n.Content[i].Value))
		}
	default:
		w.scalar(n, t, path)
	}
}

// mapping checks a struct's keys: unknown ones get a suggestion when a
// known key is a small edit away.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		w.errf(n, path, "want keys and values, got %s", describe(n))
		return
	}
	fields := yamlFields(t)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := joinPath(path, k.Value)
		if seen[k.Value] {
			w.errf(k, p, "key given twice")
			continue
		}
		seen[k.Value] = true
		ft, ok := fields[k.Value]
		if !ok {
			msg := "unknown key"
			if s := suggest(k.Value, fields); s != "" {
				msg += "; did you mean " + s + "?"
			}
			w.errf(k, p, "%s", msg)
			continue
		}
		w.walk(v, ft, p)
	}
}

// scalar decodes one leaf on its own, so its error is the leaf's alone.
func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		w.errf(n, path, "want %s, got %s", kindWord(t), describe(n))
		return
	}
	if t.Kind() == reflect.String && strings.Contains(n.Value, "${") {
		w.errf(n, path, "${...} is expanded only in secret fields (keys, passwords, DSNs, client secrets); "+
			"write the value itself here")
		return
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && reflect.PointerTo(t).Implements(unmarshalerType) && len(te.Errors) > 0 {
			w.errf(n, path, "%s", lineRE.ReplaceAllString(te.Errors[0], ""))
			return
		}
		w.errf(n, path, "want %s, got %q", kindWord(t), n.Value)
	}
}

// secret checks that an ${ENV} or file: secret can be resolved. With
// noSecrets, an unresolvable one is replaced by a placeholder instead, so
// a config can be checked on a machine that does not hold its secrets.
func (w *walker) secret(n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode {
		w.errf(n, path, "want a secret (${ENV_VAR}, file:/path or a literal), got %s", describe(n))
		return
	}
	problem := secretProblem(n.Value)
	if problem == "" {
		return
	}
	if w.noSecrets && !strings.Contains(problem, "alone") {
		n.Value, n.Tag, n.Style = placeholderSecret, "!!str", 0
		return
	}
	w.errf(n, path, "%s", problem)
}

// secretProblem says why raw cannot be resolved, or "" when it can.
func secretProblem(raw string) string {
	switch {
	case envRef.MatchString(raw):
		name := envRef.FindStringSubmatch(raw)[1]
		if _, ok := os.LookupEnv(name); !ok {
			return "environment variable " + name + " is not set"
		}
	case strings.HasPrefix(raw, "file:"):
		// Opening is enough to know it can be read; the decoder reads it.
		f, err := os.Open(strings.TrimPrefix(raw, "file:"))
		if err != nil {
			return "read secret file: " + err.Error()
		}
		f.Close()
	case strings.Contains(raw, "${"):
		return "write the variable alone, as ${NAME}: a secret is one whole variable, never text around it"
	}
	return ""
}

// yamlFields maps a struct's yaml keys to their field types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		out[tag] = f.Type
	}
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names what a node is, in YAML's words.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "keys and values"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

// kindWord names what a field wants, in a user's words.
func kindWord(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return `a duration such as "30s" or "7d"`
	case reflect.TypeFor[ByteSize]():
		return `a size such as "25MiB"`
	case reflect.TypeFor[netip.Prefix]():
		return `a CIDR such as "10.0.0.0/24"`
	case reflect.TypeFor[netip.Addr]():
		return `an IP address such as "10.0.0.4"`
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	}
	return "a value"
}

// suggest returns the known key closest to key, if it is close enough to
// be a typo: at most a third of the key's length in edits, and at least one.
func suggest(key string, fields map[string]reflect.Type) string {
	best, bestD := "", max(1, len(key)/3)+1
	for k := range fields {
		if d := editDistance(key, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance between a and b:
// Levenshtein plus swapped neighbours as one edit, the commonest typo.
func editDistance(a, b string) int {
	rows := [3][]int{make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)}
	for j := range rows[1] {
		rows[1][j] = j
	}
	for i := 1; i <= len(a); i++ {
		pp, prev, cur := rows[0], rows[1], rows[2]
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
		rows[0], rows[1], rows[2] = prev, cur, pp
	}
	return rows[1][len(b)]
}
