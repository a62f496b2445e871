package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// goNames matches what a user must never read in a config error: Go type
// names, yaml.v3 tags and decoder jargon.
var goNames = regexp.MustCompile(`config\.|netip|Parse[A-Z]|!!|unmarshal|reflect|struct|int64|float64|\bstring\b.*into`)

func TestDecodeReportsEveryProblem(t *testing.T) {
	y := `region: x
listeners:
  - name: a
    adress: 127.0.0.1:1
log:
  queue_size: lots
  flush_interval: soon
  bodies: maybe
limits:
  max_body_bytes: huge
upstreams:
  - name: u
    type: openai_compatible
    base_url: ${BASE_URL}
    endpont: https://x
deployments:
  - name: d
    upstreams: {upstream: u}
rate_limts: {}
network: {ip_rules: ["10.0.0.0/33"]}
`
	_, err := Parse([]byte(y))
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		"line 4: listeners[0].adress: unknown key; did you mean address?",
		"line 6: log.queue_size: want a whole number, got \"lots\"",
		"line 7: log.flush_interval: invalid duration \"soon\"",
		"line 8: log.bodies: want true or false, got \"maybe\"",
		"line 10: limits.max_body_bytes: invalid size \"huge\"",
		"line 14: upstreams[0].base_url: ${...} is expanded only in secret fields",
		"line 15: upstreams[0].endpont: unknown key; did you mean endpoint?",
		"line 18: deployments[0].upstreams: want a list, got keys and values",
		"line 19: rate_limts: unknown key; did you mean rate_limits?",
		`network: ip_rules[0]: invalid prefix: "10.0.0.0/33": prefix length out of range`,
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
	if m := goNames.FindString(err.Error()); m != "" {
		t.Errorf("error names Go internals (%q):\n%v", m, err)
	}
}

func TestSuggest(t *testing.T) {
	fields := yamlFields(reflect.TypeFor[Upstream]())
	tests := []struct{ key, want string }{
		{"endpont", "endpoint"}, {"api-key", "api_key"}, {"tyep", "type"}, {"wholly_unrelated", ""}, {"x", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.key, fields); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

const fileConfig = `
upstreams:
  - {name: sim, type: simulator}
  - {name: az, type: azure, endpoint: "https://contoso.openai.azure.com", api_key: "${MOAT_TEST_UNSET_KEY}"}
  - {name: oa, type: openai, base_url: "https://api.openai.com/v1", api_key: "file:/nonexistent/moat-key"}
deployments:
  - {name: d, upstreams: [{upstream: sim}, {upstream: az}, {upstream: oa}]}
`

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, y string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		yaml    string
		opts    LoadOptions
		wantErr []string
	}{
		{name: "empty file", yaml: "", wantErr: []string{"deployments: none configured"}},
		{name: "listeners only", yaml: "listeners: [{name: a, address: '127.0.0.1:1'}]\n", wantErr: []string{"deployments: none configured"}},
		{name: "simulator upstream, no deployments", yaml: "upstreams: [{name: s, type: simulator}]\n", wantErr: []string{"deployments: none configured"}},
		{name: "explicit simulator", yaml: "upstreams: [{name: s, type: simulator}]\ndeployments: [{name: d, upstreams: [{upstream: s}]}]\n"},
		{name: "unset secrets", yaml: fileConfig, wantErr: []string{
			"line 4: upstreams[1].api_key: environment variable MOAT_TEST_UNSET_KEY is not set",
			"line 5: upstreams[2].api_key: read secret file",
		}},
		{name: "unset secrets with no-secrets", yaml: fileConfig, opts: LoadOptions{NoSecrets: true}},
		{name: "text around a variable", yaml: "log: {store: postgres, postgres_dsn: 'postgres://${USER}@db/moat'}\n", opts: LoadOptions{NoSecrets: true},
			wantErr: []string{"log.postgres_dsn: write the variable alone"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadWith(write(strings.Repeat("x", i+1)+".yaml", tt.yaml), tt.opts)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if c.Auth.Disabled {
					t.Error("a file disabled authentication by default")
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestDefaultServesSimulator(t *testing.T) {
	c := Default()
	if !c.Auth.Disabled || c.Upstreams[0].Type != "simulator" || len(c.Deployments) == 0 {
		t.Fatalf("default: auth %v, upstreams %+v", c.Auth.Disabled, c.Upstreams)
	}
}

// TestListenerKindDefaultsToPublic pins the safe default that docs/network.md
// explains: a listener whose kind was forgotten is judged by the public
// network access rules, never exempt from them as a private endpoint is.
func TestListenerKindDefaultsToPublic(t *testing.T) {
	c, err := Parse([]byte("listeners: [{name: a, address: '127.0.0.1:1'}]\nmanagement: {listeners: [{name: m, address: '127.0.0.1:2'}]}\nmanagement: {allow_public: true}\n"))
	if err == nil {
		t.Fatal("a key given twice was accepted")
	}
	c, err = Parse([]byte("listeners: [{name: a, address: '127.0.0.1:1'}]\nmanagement: {listeners: [{name: m, address: '127.0.0.1:2'}], allow_public: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range c.AllListeners() {
		if l.Kind != "public" {
			t.Errorf("listener %s without kind is %q, want public", l.Name, l.Kind)
		}
		p, err := l.Policy()
		if err != nil || p.Kind != "public" {
			t.Errorf("listener %s policy %+v %v", l.Name, p, err)
		}
	}
	if _, err := Parse([]byte("management: {listeners: [{name: m, address: '127.0.0.1:2'}]}\n")); err == nil ||
		!strings.Contains(err.Error(), "kind public exposes the admin API") {
		t.Errorf("a management listener without kind is refused as public: %v", err)
	}
}

// TestWalkerSelfParsingTypes: fields of types that parse themselves from a
// scalar (encoding.TextUnmarshaler, as netip.Prefix) and free-form fields
// are checked as scalars, not as mappings, so others can add such fields.
func TestWalkerSelfParsingTypes(t *testing.T) {
	type extra struct {
		Net  netip.Prefix `yaml:"net"`
		Free any          `yaml:"free"`
	}
	tests := []struct {
		yaml string
		want string
	}{
		{"net: 10.0.0.0/8\nfree: {a: [1, 2]}\n", ""},
		{"net: not-a-cidr\n", `line 1: net: want a CIDR such as "10.0.0.0/24", got "not-a-cidr"`},
	}
	for _, tt := range tests {
		var root yaml.Node
		if err := yaml.Unmarshal([]byte(tt.yaml), &root); err != nil {
			t.Fatal(err)
		}
		var w walker
		w.walk(&root, reflect.TypeFor[extra](), "")
		got := ""
		if len(w.errs) > 0 {
			got = w.errs[0].Error()
		}
		if got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.yaml, got, tt.want)
		}
	}
}
