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
// package's timeout and reserves the exact count (timing is measured in
// internal/tokens' benchmarks, never here). With max_exact_count_bytes
// below the prompt the reservation is the byte upper bound instead.
func TestPromptCountAttack(t *testing.T) {
	const tpm, maxTokens = 100_000_000, 10
	attack := strings.Repeat(" \n", 64<<10)
	content, _ := json.Marshal(attack)
	body := `{"messages":[{"role":"user","content":` + string(content) + `}],"max_tokens":` + strconv.Itoa(maxTokens) + `}`
	r, err := openai.ParseRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	exact := tokens.New().Prompt("gpt-4o-mini", r)
	tests := []struct {
		name     string
		extra    string
		reserved int
	}{
		{name: "counted exactly", extra: "", reserved: exact + maxTokens},
		// 3 per message + "user" (exact, it fits) + the content's bytes + 3.
		{name: "beyond the exact cap", extra: ", max_exact_count_bytes: 1KiB", reserved: 3 + 1 + len(attack) + 3 + maxTokens},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			ts := startServerOpts(t, `rate_limits: {rules: [{name: t, scope: deployment, tpm: `+strconv.Itoa(tpm)+`}]`+tt.extra+`}`, Options{Now: clk.Now})
			url := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
			status, h, resp := do(t, "POST", url, body, "api-key", "k")
			if status != 200 {
				t.Fatalf("%d %s", status, resp)
			}
			if got, want := h.Get("X-Ratelimit-Remaining-Tokens"), strconv.Itoa(tpm-tt.reserved); got != want {
				t.Fatalf("remaining tokens %s, want %s (reserved %d)", got, want, tt.reserved)
			}
		})
	}
}
