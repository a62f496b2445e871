package gateway

import (
	"strings"
	"testing"
)

// TestSimulatorKinds: a deployment of an instruct model on the built-in
// simulator answers legacy completions, and a chat call on it is Azure's
// OperationNotSupported, as each model family is served on Azure.
func TestSimulatorKinds(t *testing.T) {
	ts := startServer(t, `
upstreams: [{name: sim, type: simulator}]
deployments:
  - {name: instruct, model: gpt-35-turbo-instruct, upstreams: [{upstream: sim}]}
  - {name: embed, model: text-embedding-3-small, upstreams: [{upstream: sim}]}
  - {name: chat, model: gpt-4o-mini, upstreams: [{upstream: sim}]}
`)
	base := ts.url + "/openai/deployments/"
	const q = "?api-version=2024-10-21"
	tests := []struct {
		path, body string
		status     int
		want       string
	}{
		{"instruct/completions", `{"prompt":"Say hi","max_tokens":5}`, 200, `"object":"text_completion"`},
		{"instruct/chat/completions", chatBody, 400, "OperationNotSupported"},
		{"embed/embeddings", `{"input":"hi"}`, 200, `"object":"embedding"`},
		{"chat/chat/completions", chatBody, 200, `"object":"chat.completion"`},
		{"chat/completions", `{"prompt":"hi"}`, 400, "OperationNotSupported"},
	}
	for _, tt := range tests {
		status, _, body := do(t, "POST", base+tt.path+q, tt.body, "api-key", "k")
		if status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s", tt.path, status, body)
		}
	}
}
