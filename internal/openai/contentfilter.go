package openai

import (
	"encoding/json"
	"errors"
)

// MsgPromptFiltered is Azure's message for a prompt refused by the content
// filter (wire reference §2.11).
const MsgPromptFiltered = "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"

// safeCategories are the filter categories of a prompt that nothing
// matched, in Azure's order.
const safeCategories = `"hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}`

// blocklistHit is the custom_blocklists member of a filter result naming
// the rule that matched, the form Azure uses for its custom blocklists.
func blocklistHit(id string) string {
	return `"custom_blocklists":[{"filtered":true,"id":` + jsonString(id) + `}]`
}

// PromptFilteredError is Azure's 400 body for a prompt refused by the
// content filter, in the wire form (innererror, content_filter_result
// singular), with the rule that matched as a custom blocklist: moat's
// guardrails answer with it so that SDKs raise their content-filter error
// (azopenai's ContentFilterError reads innererror.content_filter_result).
func PromptFilteredError(rule string) []byte {
	return []byte(`{"error":{"message":` + jsonString(MsgPromptFiltered) +
		`,"type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{` +
		blocklistHit(rule) + `,` + safeCategories + `}}}}`)
}

// ChoiceFilterResults is a choice's content_filter_results naming the rule
// that filtered it.
func ChoiceFilterResults(rule string) json.RawMessage {
	return json.RawMessage(`{` + blocklistHit(rule) + `}`)
}

// FilteredCompletion rewrites a chat or legacy completion answer as Azure
// sends a completion its filter stopped: every choice ends with
// finish_reason "content_filter", its text removed (message content and
// tool calls, or text) and its content_filter_results naming rule. Other
// members (id, usage, …) are kept. It fails on bodies without choices.
func FilteredCompletion(body []byte, rule string) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, err
	}
	var choices []map[string]json.RawMessage
	if err := json.Unmarshal(top["choices"], &choices); err != nil || len(choices) == 0 {
		return nil, errors.New("no choices to filter")
	}
	for _, c := range choices {
		c["finish_reason"] = json.RawMessage(`"content_filter"`)
		c["content_filter_results"] = ChoiceFilterResults(rule)
		if _, ok := c["text"]; ok {
			c["text"] = json.RawMessage(`""`)
		}
		if raw, ok := c["message"]; ok {
			var msg map[string]json.RawMessage
			if json.Unmarshal(raw, &msg) == nil {
				delete(msg, "tool_calls")
				delete(msg, "function_call")
				msg["content"] = json.RawMessage(`null`)
				c["message"], _ = json.Marshal(msg)
			}
		}
	}
	top["choices"], _ = json.Marshal(choices)
	return json.Marshal(top)
}

// FilteredChunk is the last event of a stream cut by a guardrail: a chunk
// with finish_reason "content_filter" shaped after the stream's own chunks
// (chat.completion.chunk, or text_completion for legacy completions,
// with their id, created and model), then [DONE].
func FilteredChunk(lastData []byte, rule string) []byte {
	var head struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		Model   string `json:"model"`
	}
	_ = json.Unmarshal(lastData, &head)
	choice := `{"index":0,"delta":{},"finish_reason":"content_filter","content_filter_results":` + string(ChoiceFilterResults(rule)) + `}`
	if head.Object == "text_completion" {
		choice = `{"index":0,"text":"","finish_reason":"content_filter","content_filter_results":` + string(ChoiceFilterResults(rule)) + `}`
	} else {
		head.Object = "chat.completion.chunk"
	}
	b, _ := json.Marshal(head)
	b = append(b[:len(b)-1], `,"choices":[`...)
	b = append(b, choice...)
	b = append(b, "]}"...)
	out := append([]byte("data: "), b...)
	return append(out, "\n\ndata: [DONE]\n\n"...)
}
