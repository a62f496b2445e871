package anthropic

import (
	"encoding/json"
	"errors"
)

// StopRefusal is the stop_reason of a message the service declined to
// finish (Claude's streaming classifiers); moat's completion guardrails use
// it when a block rule matches an answer.
const StopRefusal = "refusal"

// Refused turns a plain Messages answer into a refusal: no content,
// stop_reason "refusal", everything else (id, model, usage) as it came.
func Refused(body []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	if string(m["type"]) != `"message"` {
		return nil, errors.New("not a Messages answer")
	}
	m["content"] = json.RawMessage(`[]`)
	m["stop_reason"] = json.RawMessage(`"` + StopRefusal + `"`)
	m["stop_sequence"] = json.RawMessage(`null`)
	return json.Marshal(m)
}

// RefusalEvents ends a Messages stream as a refusal: the message_delta
// with stop_reason "refusal", then message_stop. The SDKs' accumulators
// need nothing else; a content block left open is closed by message_stop.
func RefusalEvents() []byte {
	return []byte("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"" + StopRefusal +
		"\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":0}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
}
