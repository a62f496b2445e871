package simulator

import "encoding/json"

// The types below reproduce Azure's response bodies. Azure serializes chat
// and completions objects with their keys in alphabetical order (see the
// first streamed chunk in the wire reference §1.9), so struct fields are
// declared in that order; prompt_filter_results entries are the exception
// (prompt_index first), as captured.

// severityResult is a severity-graded content-filter category (§1.10).
type severityResult struct {
	Filtered bool   `json:"filtered"`
	Severity string `json:"severity"`
}

// detectedResult is a detection content-filter category (§1.10).
type detectedResult struct {
	Filtered bool `json:"filtered"`
	Detected bool `json:"detected"`
}

func safe() severityResult { return severityResult{Severity: "safe"} }

// promptFilters is contentFilterPromptResults with nothing filtered.
type promptFilters struct {
	Hate      severityResult `json:"hate"`
	Jailbreak detectedResult `json:"jailbreak"`
	SelfHarm  severityResult `json:"self_harm"`
	Sexual    severityResult `json:"sexual"`
	Violence  severityResult `json:"violence"`
}

type promptFilterResult struct {
	PromptIndex          int           `json:"prompt_index"`
	ContentFilterResults promptFilters `json:"content_filter_results"`
}

func promptFilterResults(prompts int) []promptFilterResult {
	out := make([]promptFilterResult, prompts)
	for i := range out {
		out[i] = promptFilterResult{PromptIndex: i, ContentFilterResults: promptFilters{
			Hate: safe(), SelfHarm: safe(), Sexual: safe(), Violence: safe(),
		}}
	}
	return out
}

// choiceFilters is contentFilterChoiceResults. Streamed chunks carry the four
// severity categories or nothing ({}); complete answers add the protected
// material detections.
type choiceFilters struct {
	Hate                  *severityResult `json:"hate,omitempty"`
	ProtectedMaterialCode *detectedResult `json:"protected_material_code,omitempty"`
	ProtectedMaterialText *detectedResult `json:"protected_material_text,omitempty"`
	SelfHarm              *severityResult `json:"self_harm,omitempty"`
	Sexual                *severityResult `json:"sexual,omitempty"`
	Violence              *severityResult `json:"violence,omitempty"`
}

func severityFilters() *choiceFilters {
	s := safe()
	return &choiceFilters{Hate: &s, SelfHarm: &s, Sexual: &s, Violence: &s}
}

func completeFilters() *choiceFilters {
	f := severityFilters()
	f.ProtectedMaterialCode = &detectedResult{}
	f.ProtectedMaterialText = &detectedResult{}
	return f
}

// usage is the chat and completions usage object with its details.
type usage struct {
	CompletionTokens        int               `json:"completion_tokens"`
	CompletionTokensDetails completionDetails `json:"completion_tokens_details"`
	PromptTokens            int               `json:"prompt_tokens"`
	PromptTokensDetails     promptDetails     `json:"prompt_tokens_details"`
	TotalTokens             int               `json:"total_tokens"`
}

type completionDetails struct {
	AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
	AudioTokens              int `json:"audio_tokens"`
	ReasoningTokens          int `json:"reasoning_tokens"`
	RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
}

type promptDetails struct {
	AudioTokens  int `json:"audio_tokens"`
	CachedTokens int `json:"cached_tokens"`
}

func newUsage(prompt, completion int) usage {
	return usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}

// chatCompletion is a non-streamed chat answer.
type chatCompletion struct {
	Choices             []chatChoice         `json:"choices"`
	Created             int64                `json:"created"`
	ID                  string               `json:"id"`
	Model               string               `json:"model"`
	Object              string               `json:"object"`
	PromptFilterResults []promptFilterResult `json:"prompt_filter_results"`
	SystemFingerprint   string               `json:"system_fingerprint"`
	Usage               usage                `json:"usage"`
}

type chatChoice struct {
	ContentFilterResults *choiceFilters  `json:"content_filter_results"`
	FinishReason         string          `json:"finish_reason"`
	Index                int             `json:"index"`
	Logprobs             json.RawMessage `json:"logprobs"`
	Message              chatMessage     `json:"message"`
}

type chatMessage struct {
	Annotations []struct{}      `json:"annotations"`
	Content     json.RawMessage `json:"content"`
	Refusal     json.RawMessage `json:"refusal"`
	Role        string          `json:"role"`
	ToolCalls   []wireToolCall  `json:"tool_calls,omitempty"`
}

// wireToolCall is a tool call of a message, or its streamed delta (Index
// set, the other members only on the call's first chunk).
type wireToolCall struct {
	Function wireFunction `json:"function"`
	ID       string       `json:"id,omitempty"`
	Index    *int         `json:"index,omitempty"`
	Type     string       `json:"type,omitempty"`
}

type wireFunction struct {
	Arguments string `json:"arguments"`
	Name      string `json:"name,omitempty"`
}

// textCompletion is a non-streamed legacy completions answer.
type textCompletion struct {
	Choices             []textChoice         `json:"choices"`
	Created             int64                `json:"created"`
	ID                  string               `json:"id"`
	Model               string               `json:"model"`
	Object              string               `json:"object"`
	PromptFilterResults []promptFilterResult `json:"prompt_filter_results,omitempty"`
	Usage               json.RawMessage      `json:"usage,omitempty"`
}

type textChoice struct {
	ContentFilterResults *choiceFilters  `json:"content_filter_results"`
	FinishReason         json.RawMessage `json:"finish_reason"`
	Index                int             `json:"index"`
	Logprobs             json.RawMessage `json:"logprobs"`
	Text                 string          `json:"text"`
}

// promptFilterChunk is the first streamed event (§1.9): no choices, zero
// values everywhere, and the prompt's filter results.
type promptFilterChunk struct {
	Choices             []struct{}           `json:"choices"`
	Created             int64                `json:"created"`
	ID                  string               `json:"id"`
	Model               string               `json:"model"`
	Object              string               `json:"object"`
	PromptFilterResults []promptFilterResult `json:"prompt_filter_results"`
}

// chatChunk is one streamed chat event. Usage is omitted unless the client
// asked for the usage chunk, in which case it is null on every other chunk.
type chatChunk struct {
	Choices           []chunkChoice   `json:"choices"`
	Created           int64           `json:"created"`
	ID                string          `json:"id"`
	Model             string          `json:"model"`
	Object            string          `json:"object"`
	SystemFingerprint string          `json:"system_fingerprint"`
	Usage             json.RawMessage `json:"usage,omitempty"`
}

type chunkChoice struct {
	ContentFilterResults *choiceFilters  `json:"content_filter_results"`
	Delta                chunkDelta      `json:"delta"`
	FinishReason         json.RawMessage `json:"finish_reason"`
	Index                int             `json:"index"`
	Logprobs             json.RawMessage `json:"logprobs"`
}

type chunkDelta struct {
	Content   json.RawMessage `json:"content,omitempty"`
	Refusal   json.RawMessage `json:"refusal,omitempty"`
	Role      string          `json:"role,omitempty"`
	ToolCalls []wireToolCall  `json:"tool_calls,omitempty"`
}

// embeddingList is an embeddings answer, in OpenAI's key order.
type embeddingList struct {
	Object string          `json:"object"`
	Data   []embeddingItem `json:"data"`
	Model  string          `json:"model"`
	Usage  embeddingUsage  `json:"usage"`
}

type embeddingItem struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

type embeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// null is a JSON null for RawMessage fields that Azure sends as null.
func null() json.RawMessage { return json.RawMessage("null") }

// quoted renders s as a JSON string for RawMessage fields.
func quoted(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
