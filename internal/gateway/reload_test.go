package gateway

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"
)

func TestReload(t *testing.T) {
	base := `
listeners: [{name: data, address: '127.0.0.1:0', kind: public}]
management: {listeners: [{name: mgmt, address: '127.0.0.1:0', kind: private_endpoint}]}
simulator: {time_to_first_token: 1ms, tokens_per_second: 100}
`
	ts := startServer(t, base+"network: {public_network_access: enabled}")
	url := ts.url + "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"

	// A stream that outlives the reload: 30 tokens at 100 tokens/s.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp := post(t, ctx, url, `{"messages":[{"role":"user","content":"long"}],"max_tokens":30,"stream":true}`)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}

	withDir := func(y string) string {
		return y + "\ndata_dir: " + ts.cfg.Load().DataDir + "\nshutdown: {grace_period: 5s}\n"
	}
	if err := ts.Reload(mustConfig(t, withDir(base+"network: {public_network_access: disabled}"))); err != nil {
		t.Fatal(err)
	}
	if status, _, body := do(t, "POST", url, chatBody, "api-key", "k"); status != 403 || body != bodyPublicDisabled {
		t.Fatalf("after reload: %d %s", status, body)
	}
	// A reload that moves a listener is refused; the running config stays.
	moved := strings.Replace(base, "127.0.0.1:0', kind: public", "127.0.0.1:1', kind: public", 1)
	if err := ts.Reload(mustConfig(t, withDir(moved+"network: {public_network_access: enabled}"))); err == nil {
		t.Fatal("listener change accepted on reload")
	}
	if status, _, _ := do(t, "POST", url, chatBody, "api-key", "k"); status != 403 {
		t.Fatalf("refused reload changed behaviour: %d", status)
	}
	// The stream that started before the reload finishes normally.
	rest, err := readAll(br)
	if err != nil || !strings.HasSuffix(strings.TrimSpace(rest), "data: [DONE]") {
		t.Fatalf("in-flight stream: %v %q", err, rest)
	}
}

func readAll(br *bufio.Reader) (string, error) {
	var b strings.Builder
	_, err := br.WriteTo(&b)
	return b.String(), err
}
