package anthropic

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRefused(t *testing.T) {
	out, err := Refused([]byte(`{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"4111 1111 1111 1111"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":9}}`))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ID         string            `json:"id"`
		Content    []json.RawMessage `json:"content"`
		StopReason string            `json:"stop_reason"`
		Usage      struct {
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(out, &m); err != nil || m.ID != "msg_1" || len(m.Content) != 0 || m.StopReason != "refusal" || m.Usage.OutputTokens != 9 {
		t.Fatalf("%s: %+v %v", out, m, err)
	}
	if strings.Contains(string(out), "4111") {
		t.Fatalf("refused answer still holds the text: %s", out)
	}
	for _, bad := range []string{`{"type":"error"}`, `[1]`, `not json`} {
		if _, err := Refused([]byte(bad)); err == nil {
			t.Errorf("Refused(%s) = nil error", bad)
		}
	}
}

func TestRefusalEvents(t *testing.T) {
	ev := string(RefusalEvents())
	for _, want := range []string{"event: message_delta\n", `"stop_reason":"refusal"`, "event: message_stop\n"} {
		if !strings.Contains(ev, want) {
			t.Errorf("events %q lack %q", ev, want)
		}
	}
}
