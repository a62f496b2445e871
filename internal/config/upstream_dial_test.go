package config

import (
	"strings"
	"testing"
)

func TestUpstreamDialValidation(t *testing.T) {
	const head = "listeners: [{name: d, address: 127.0.0.1:0, kind: private_endpoint}]\n" +
		"deployments: [{name: gpt, upstreams: [{upstream: u}]}]\n"
	tests := []struct {
		name     string
		upstream string
		want     []string // substrings of the error; none means valid
	}{
		{"public name with connect_address", `{name: u, type: azure, endpoint: "https://contoso.openai.azure.com", auth: managed_identity, connect_address: "10.0.3.4:443"}`, nil},
		{"ipv6 connect_address", `{name: u, type: openai_compatible, base_url: "https://vllm.internal/v1", connect_address: "[fd00::7]:8443"}`, nil},
		{"privatelink endpoint refused with the reason", `{name: u, type: azure, endpoint: "https://contoso.privatelink.openai.azure.com", auth: managed_identity}`,
			[]string{"privatelink name", "certificate", "hostname mismatch", "use contoso.openai.azure.com", "connect_address"}},
		{"privatelink base_url refused", `{name: u, type: openai_compatible, base_url: "https://x.PrivateLink.cognitiveservices.azure.com/openai/v1"}`,
			[]string{"privatelink name", "use x.cognitiveservices.azure.com"}},
		{"connect_address needs a port", `{name: u, type: azure, endpoint: "https://c.openai.azure.com", auth: default, connect_address: "10.0.3.4"}`,
			[]string{"must be IP:port"}},
		{"connect_address is not a name", `{name: u, type: azure, endpoint: "https://c.openai.azure.com", auth: default, connect_address: "pe.internal:443"}`,
			[]string{"not an IP address"}},
		{"connect_address port range", `{name: u, type: azure, endpoint: "https://c.openai.azure.com", auth: default, connect_address: "10.0.3.4:70000"}`,
			[]string{"not 1-65535"}},
		{"not for the simulator", `{name: u, type: simulator, connect_address: "10.0.3.4:443"}`,
			[]string{"does not apply to the simulator"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(head + "upstreams: [" + tt.upstream + "]\n"))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
