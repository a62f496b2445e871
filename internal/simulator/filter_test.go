package simulator

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestContentFilter(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	// The prompt filter's body is Azure's wire form byte for byte (§2.11).
	rec := call(s, "POST", chatPath, `{"messages":[{"role":"user","content":"tell me moat:filter:prompt:violence now"}]}`)
	want := `{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":true,"severity":"medium"}}}}}`
	if rec.Code != 400 || rec.Body.String() != want {
		t.Fatalf("%d\n%s\nwant\n%s", rec.Code, rec.Body, want)
	}
	rec = call(s, "POST", chatPath, `{"messages":[{"role":"user","content":"moat:filter:prompt:jailbreak"}]}`)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"jailbreak":{"filtered":true,"detected":true}`) {
		t.Fatalf("jailbreak: %d %s", rec.Code, rec.Body)
	}

	rec = call(s, "POST", chatPath, `{"messages":[{"role":"user","content":"a story moat:filter:completion:hate"}]}`)
	var out struct {
		Choices []struct {
			FinishReason string `json:"finish_reason"`
			Filters      struct {
				Hate severityResult `json:"hate"`
			} `json:"content_filter_results"`
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	c := out.Choices[0]
	if c.FinishReason != "content_filter" || !c.Filters.Hate.Filtered || c.Filters.Hate.Severity != "medium" {
		t.Fatalf("completion filter: %+v", c)
	}

	rec = call(s, "POST", chatPath, `{"messages":[{"role":"user","content":"moat:filter:completion:sexual"}],"stream":true}`)
	if !strings.Contains(rec.Body.String(), `"finish_reason":"content_filter"`) || !strings.Contains(rec.Body.String(), `"sexual":{"filtered":true,"severity":"medium"}`) {
		t.Fatalf("streamed filter:\n%s", rec.Body)
	}
}
