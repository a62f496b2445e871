package gateway

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/tokens"
)

// TestPromptCountAttack is issue 17's quadratic-tokenizer attack as input:
// a 128 KB prompt of " \n" through a deployment with a TPM rule. The old
// tokenizer spent 12.6 s of CPU on it; the call now completes within the
// package's timeout (timing is measured in internal/tokens' benchmarks,
// never here). Far from the limit admission reserves the prompt's byte
// bound without tokenizing it; near the limit (the bound leaves less than
// itself, or does not fit) it counts exactly and reserves that; with
// max_exact_count_bytes below the prompt the count is the bound again.
func TestPromptCountAttack(t *testing.T) {
	const maxTokens = 10
	attack := strings.Repeat(" \n", 64<<10)
	content, _ := json.Marshal(attack)
	body := `{"messages":[{"role":"user","content":` + string(content) + `}],"max_tokens":` + strconv.Itoa(maxTokens) + `}`
	r, err := openai.ParseRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	exact := tokens.New().Prompt("gpt-4o-mini", r)
	// 3 per message + "user" + the content's bytes as sent (escapes
	// included: \n is two) + 3 to prime the reply.
	bound := 3 + len("user") + len(content) - 2 + 3
	if tokens.PromptBound(r) != bound || exact >= bound {
		t.Fatalf("bound %d, exact %d; want %d above the exact count", tokens.PromptBound(r), exact, bound)
	}
	// Counted under a cap below the content: "user" exactly (1 token), the
	// decoded content by its bytes.
	capped := 3 + 1 + len(attack) + 3
	tests := []struct {
		name     string
		tpm      int
		extra    string
		reserved int
	}{
		{name: "far from the limit: the bound", tpm: 100_000_000, reserved: bound + maxTokens},
		{name: "near the limit: counted exactly", tpm: bound + maxTokens + 100, reserved: exact + maxTokens},
		{name: "bound over the limit: counted exactly", tpm: exact + maxTokens + 100, reserved: exact + maxTokens},
		{name: "beyond the exact cap", tpm: bound + maxTokens + 100, extra: ", max_exact_count_bytes: 1KiB", reserved: capped + maxTokens},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			ts := startServerOpts(t, `rate_limits: {rules: [{name: t, scope: deployment, tpm: `+strconv.Itoa(tt.tpm)+`}]`+tt.extra+`}`, Options{Now: clk.Now})
			url := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
			status, h, resp := do(t, "POST", url, body, "api-key", "k")
			if status != 200 {
				t.Fatalf("%d %s", status, resp)
			}
			if got, want := h.Get("X-Ratelimit-Remaining-Tokens"), strconv.Itoa(tt.tpm-tt.reserved); got != want {
				t.Fatalf("remaining tokens %s, want %s (reserved %d)", got, want, tt.reserved)
			}
		})
	}
}
