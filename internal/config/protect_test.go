package config

import (
	"strings"
	"testing"
)

const protectBase = "upstreams: [{name: sim, type: simulator}]\ndeployments: [{name: d, upstreams: [{upstream: sim}]}, {name: e, log_bodies: false, upstreams: [{upstream: sim}]}]\n"

func TestProtectionConfig(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error; none for a valid config
	}{
		{name: "valid", yaml: `
log: {bodies: true, retention: 30d, body_retention: 7d, redact: {builtins: [email, card], patterns: [{name: emp, regex: 'EMP-[0-9]+'}]}}
guardrails:
  - {builtin: card, action: block}
  - {name: emp, regex: 'EMP-[0-9]+', action: mask, apply_to: prompt, deployments: ["d*"]}
`},
		{name: "every problem at once", yaml: `
log: {retention: 7d, body_retention: 30d, redact: {builtins: [ssn], patterns: [{name: x, regex: 'a*'}]}}
guardrails:
  - {builtin: card, regex: 'x', action: block}
  - {regex: 'x', action: block}
  - {builtin: card, action: drop, apply_to: answers}
  - {builtin: card, action: flag}
  - {name: y, regex: '(', action: flag}
`, want: []string{"body_retention (720h0m0s) must not be longer", `unknown "ssn"`, "matches the empty string",
			"guardrails[0]: set exactly one", "guardrails[1]: a regex rule needs a name", "action must be block, mask or flag",
			"apply_to must be prompt", `guardrails[3]: duplicate name "card"`, "guardrails[4]: rule y: error parsing regexp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(protectBase + tt.yaml))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !c.LogsBodies(&c.Deployments[0]) || c.LogsBodies(&c.Deployments[1]) {
					t.Error("log_bodies does not override log.bodies")
				}
				if c.Guardrails[0].Name != "card" || c.Guardrails[0].ApplyTo != "both" {
					t.Errorf("defaults: %+v", c.Guardrails[0])
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
