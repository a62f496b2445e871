package config

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Secret is a credential read from config. It is written in YAML as
// "${ENV_VAR}", "file:/path/to/file" or, for development only, a literal.
// It is resolved once at load and never printed: String, GoString and
// MarshalYAML all redact it.
type Secret struct {
	value  string
	source string // "env:NAME", "file:PATH" or "literal"
}

// NewSecret wraps a literal value, for code that builds configs.
func NewSecret(v string) Secret { return Secret{value: v, source: "literal"} }

// Value returns the secret itself. Call it only where the secret is used.
func (s Secret) Value() string { return s.value }

// IsSet reports whether a value was configured.
func (s Secret) IsSet() bool { return s.value != "" }

// Source describes where the secret came from, without its value.
func (s Secret) Source() string { return s.source }

func (s Secret) String() string   { return "[redacted]" }
func (s Secret) GoString() string { return "config.Secret{[redacted]}" }

// MarshalYAML redacts the value so config dumps never carry secrets.
func (s Secret) MarshalYAML() (any, error) {
	if s.source == "" {
		return "", nil
	}
	if strings.HasPrefix(s.source, "env:") {
		return "${" + strings.TrimPrefix(s.source, "env:") + "}", nil
	}
	if strings.HasPrefix(s.source, "file:") {
		return s.source, nil
	}
	return "[redacted]", nil
}

var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// UnmarshalYAML resolves ${ENV} and file: references at load time.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	var raw string
	if err := n.Decode(&raw); err != nil {
		return err
	}
	switch {
	case raw == "":
		*s = Secret{}
	case envRef.MatchString(raw):
		name := envRef.FindStringSubmatch(raw)[1]
		v, ok := os.LookupEnv(name)
		if !ok {
			return typeError(n, "environment variable %s is not set", name)
		}
		*s = Secret{value: v, source: "env:" + name}
	case strings.HasPrefix(raw, "file:"):
		path := strings.TrimPrefix(raw, "file:")
		b, err := os.ReadFile(path)
		if err != nil {
			return typeError(n, "read secret file: %v", err)
		}
		*s = Secret{value: strings.TrimRight(string(b), "\r\n"), source: "file:" + path}
	default:
		*s = Secret{value: raw, source: "literal"}
	}
	return nil
}

// typeError reports a bad value as yaml.v3's TypeError, which the decoder
// collects and goes on from, so one bad value does not hide the next.
func typeError(n *yaml.Node, format string, a ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: ", n.Line) + fmt.Sprintf(format, a...)}}
}

// Duration is a time.Duration that also accepts a "d" (day) unit, as in
// "30d", because retention periods are written in days.
type Duration time.Duration

// D returns the standard duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML parses Go durations and whole days.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var raw string
	if err := n.Decode(&raw); err != nil {
		return err
	}
	v, err := ParseDuration(raw)
	if err != nil {
		return typeError(n, "%v", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration in Go syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ParseDuration parses "1h30m" or "7d".
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return v, nil
}

// ByteSize is a size in bytes written as "25MiB", "512KiB", "1GB" or a number.
type ByteSize int64

// UnmarshalYAML parses sizes with binary or decimal units.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	var raw string
	if err := n.Decode(&raw); err != nil {
		return err
	}
	v, err := ParseByteSize(raw)
	if err != nil {
		return typeError(n, "%v", err)
	}
	*b = ByteSize(v)
	return nil
}

// ParseByteSize parses a size such as "25MiB".
func ParseByteSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}
