package gateway

import (
	"strconv"
	"testing"
)

// TestSimulatorRateHeaders: under the built-in simulator's default limits
// a 200 carries Azure's x-ratelimit-remaining-* headers, counting down;
// explicit zeros keep the simulator unlimited and send none.
func TestSimulatorRateHeaders(t *testing.T) {
	const deployments = `
upstreams: [{name: sim, type: simulator}]
deployments: [{name: chat, model: gpt-4o-mini, upstreams: [{upstream: sim}]}]
`
	tests := []struct {
		name, sim string
		want      bool
	}{
		{"defaults", "simulator: {time_to_first_token: 1ms}\n", true},
		{"explicit unlimited", "simulator: {time_to_first_token: 1ms, tpm: 0, rpm: 0}\n", false},
		{"configured", "simulator: {time_to_first_token: 1ms, tpm: 50000, rpm: 300}\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, deployments+tt.sim)
			url := ts.url + "/openai/deployments/chat/chat/completions?api-version=2024-10-21"
			var last int
			for i := range 2 {
				status, h, body := do(t, "POST", url, chatBody)
				if status != 200 {
					t.Fatalf("%d %s", status, body)
				}
				req, tok := h.Get("X-Ratelimit-Remaining-Requests"), h.Get("X-Ratelimit-Remaining-Tokens")
				if got := req != "" && tok != ""; got != tt.want {
					t.Fatalf("headers %q %q, want present=%v", req, tok, tt.want)
				}
				if !tt.want {
					continue
				}
				n, _ := strconv.Atoi(req)
				if i > 0 && n != last-1 {
					t.Errorf("remaining requests %d after %d", n, last)
				}
				last = n
			}
		})
	}
}
