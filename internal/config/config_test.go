package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listeners[0].Address != DefaultDataAddress || c.Management.Listeners[0].Address != DefaultManagementAddress {
		t.Fatalf("listeners %+v %+v", c.Listeners, c.Management.Listeners)
	}
	if len(c.Deployments) != 3 || c.Upstreams[0].Type != "simulator" {
		t.Fatalf("default deployments %+v", c.Deployments)
	}
	if c.Log.Store != "sqlite" || c.Network.PublicNetworkAccess != "enabled" {
		t.Fatalf("defaults %+v %+v", c.Log, c.Network)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every substring must appear
	}{
		{
			name: "unknown key names its line",
			yaml: "region: x\nlisteners:\n  - name: a\n    adress: 127.0.0.1:1\n",
			want: []string{"line 4", "adress"},
		},
		{
			name: "every problem at once",
			yaml: `
network:
  public_network_access: sometimes
  ip_rules: ["10.0.0.0/33"]
upstreams:
  - name: a
    type: azure
  - name: a
    type: carrier-pigeon
deployments:
  - name: gpt
    upstreams: [{upstream: missing}]
log:
  store: postgres
`,
			want: []string{"public_network_access", "10.0.0.0/33", "endpoint is required", "auth is required",
				"duplicate name \"a\"", "carrier-pigeon", "unknown upstream \"missing\"", "postgres_dsn"},
		},
		{
			name: "bad duration has its line",
			yaml: "log:\n  flush_interval: soon\n",
			want: []string{"line 2", "soon"},
		},
		{
			name: "bad size",
			yaml: "limits:\n  max_body_bytes: lots\n",
			want: []string{"line 2", "lots"},
		},
		{
			name: "two documents",
			yaml: "region: a\n---\nregion: b\n",
			want: []string{"one YAML document"},
		},
		{
			name: "listener address clash and bad kind",
			yaml: "listeners:\n  - {name: a, address: '127.0.0.1:1', kind: dmz}\nmanagement:\n  listeners:\n    - {name: m, address: '127.0.0.1:1'}\n",
			want: []string{"kind must be", "already used"},
		},
		{
			name: "dated api version only",
			yaml: "api_versions: [latest]\n",
			want: []string{`"latest" is not`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	if err := os.WriteFile(file, []byte("from-file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MOAT_TEST_KEY", "from-env-secret")
	y := `
upstreams:
  - name: env
    type: azure
    endpoint: https://contoso.openai.azure.com
    api_key: ${MOAT_TEST_KEY}
  - name: file
    type: openai
    base_url: https://api.openai.com/v1
    api_key: file:` + file + `
  - name: literal
    type: openai_compatible
    base_url: http://127.0.0.1:8000/v1
    api_key: literal-secret
deployments:
  - {name: a, upstreams: [{upstream: env}]}
`
	c, err := Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if c.Upstreams[0].APIKey.Value() != "from-env-secret" || c.Upstreams[1].APIKey.Value() != "from-file-secret" ||
		c.Upstreams[2].APIKey.Value() != "literal-secret" {
		t.Fatal("secrets not resolved")
	}
	if c.Upstreams[0].Auth != "api_key" {
		t.Fatalf("auth default %q", c.Upstreams[0].Auth)
	}
	dump, err := c.Dump()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"from-env-secret", "from-file-secret", "literal-secret"} {
		if strings.Contains(string(dump), secret) {
			t.Fatalf("dump leaks %s:\n%s", secret, dump)
		}
	}
	if got := c.Upstreams[0].APIKey.String(); got != "[redacted]" {
		t.Fatalf("String() = %q", got)
	}
	if !strings.Contains(string(dump), "${MOAT_TEST_KEY}") {
		t.Fatalf("dump should name the env var:\n%s", dump)
	}

	_, err = Parse([]byte("log:\n  store: postgres\n  postgres_dsn: ${MOAT_SURELY_UNSET_VAR}\n"))
	if err == nil || !strings.Contains(err.Error(), "MOAT_SURELY_UNSET_VAR is not set") {
		t.Fatalf("unset env: %v", err)
	}
}

func TestParseDurationAndSize(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30d", 30 * 24 * time.Hour, true}, {"1h30m", 90 * time.Minute, true}, {"200ms", 200 * time.Millisecond, true},
		{"d", 0, false}, {"-1d", 0, false}, {"x", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v", tt.in, got, err)
		}
	}
	sizes := []struct {
		in   string
		want int64
		ok   bool
	}{{"25MiB", 25 << 20, true}, {"512KiB", 512 << 10, true}, {"1GB", 1e9, true}, {"100", 100, true}, {"1.5MiB", 0, false}, {"-1", 0, false}}
	for _, tt := range sizes {
		got, err := ParseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %v, %v", tt.in, got, err)
		}
	}
}

// TestExampleConfigLoads keeps the documented example honest.
func TestExampleConfigLoads(t *testing.T) {
	t.Setenv("AZURE_OPENAI_API_KEY", "example-key")
	t.Setenv("OPENAI_API_KEY", "example-key")
	t.Setenv("MOAT_POSTGRES_DSN", "postgres://moat@db.internal/moat")
	t.Setenv("MOAT_KEY1", "0123456789abcdef0123456789abcdef")
	t.Setenv("MOAT_STUDIO_SECRET", "example-studio-secret")
	for _, f := range []string{"../../moat.example.yaml"} {
		c, err := Load(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(c.Deployments) == 0 {
			t.Fatalf("%s: no deployments", f)
		}
	}
}

// TestDocsListEveryField checks docs/config.md names every YAML key, so the
// reference cannot silently fall behind the code.
func TestDocsListEveryField(t *testing.T) {
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range yamlKeys(Config{}) {
		if !strings.Contains(string(doc), "`"+key+"`") {
			t.Errorf("docs/config.md does not document `%s`", key)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("region: x\n"))
	f.Add([]byte("listeners:\n  - {name: a, address: '127.0.0.1:1'}\n"))
	f.Add([]byte("upstreams: [{name: a, type: azure, endpoint: 'https://x', api_key: k}]\ndeployments: [{name: d, upstreams: [{upstream: a}]}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err == nil && c.Validate() != nil {
			t.Fatal("Parse accepted a config that Validate rejects")
		}
	})
}
