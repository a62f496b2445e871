package simulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/openai"
)

const helloChat = `{"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the gateway."}]}`

// chatResponse is what tests read back from a chat answer.
type chatResponse struct {
	ID                string `json:"id"`
	Object            string `json:"object"`
	Created           int64  `json:"created"`
	Model             string `json:"model"`
	SystemFingerprint string `json:"system_fingerprint"`
	Choices           []struct {
		Index        int    `json:"index"`
		FinishReason string `json:"finish_reason"`
		Text         string `json:"text"`
		Message      struct {
			Role    string          `json:"role"`
			Content string          `json:"content"`
			Refusal json.RawMessage `json:"refusal"`
		} `json:"message"`
		ContentFilterResults map[string]json.RawMessage `json:"content_filter_results"`
	} `json:"choices"`
	PromptFilterResults []json.RawMessage `json:"prompt_filter_results"`
	Usage               openai.Usage      `json:"usage"`
}

func decodeChat(t *testing.T, body []byte) chatResponse {
	t.Helper()
	var r chatResponse
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return r
}

func TestChatGolden(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	rec := call(s, "POST", chatPath, helloChat)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	golden(t, "chat.json", rec.Body.Bytes())
}

func TestChatAnswer(t *testing.T) {
	tc := sharedCounter()
	tests := []struct {
		name       string
		path       string
		body       string
		model      string // tokenizer model of the deployment
		wantModel  string
		wantFinish string
		wantTokens int // completion tokens when capped; 0 = not capped
		wantN      int
	}{
		{name: "legacy", path: chatPath, body: helloChat, model: "gpt-4o-mini", wantModel: "gpt-4o-mini-2024-07-18", wantFinish: "stop", wantN: 1},
		{name: "v1", path: "/openai/v1/chat/completions", body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
			model: "gpt-4o", wantModel: "gpt-4o-2024-11-20", wantFinish: "stop", wantN: 1},
		{name: "plain openai", path: "/v1/chat/completions", body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`,
			model: "gpt-4o-mini", wantModel: "gpt-4o-mini-2024-07-18", wantFinish: "stop", wantN: 1},
		{name: "max_tokens cuts", path: chatPath, body: `{"max_tokens":7,"messages":[{"role":"user","content":"hi"}]}`,
			model: "gpt-4o-mini", wantModel: "gpt-4o-mini-2024-07-18", wantFinish: "length", wantTokens: 7, wantN: 1},
		{name: "max_completion_tokens cuts", path: chatPath, body: `{"max_completion_tokens":3,"max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`,
			model: "gpt-4o-mini", wantModel: "gpt-4o-mini-2024-07-18", wantFinish: "length", wantTokens: 3, wantN: 1},
		{name: "large cap does not cut", path: chatPath, body: `{"max_tokens":4096,"messages":[{"role":"user","content":"hi"}]}`,
			model: "gpt-4o-mini", wantModel: "gpt-4o-mini-2024-07-18", wantFinish: "stop", wantN: 1},
		{name: "n choices", path: chatPath, body: `{"n":3,"messages":[{"role":"user","content":"hi"}]}`,
			model: "gpt-4o-mini", wantModel: "gpt-4o-mini-2024-07-18", wantFinish: "stop", wantN: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, testOptions(newClock()))
			rec := call(s, "POST", tt.path, tt.body)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d: %s", rec.Code, rec.Body)
			}
			r := decodeChat(t, rec.Body.Bytes())
			if !strings.HasPrefix(r.ID, "chatcmpl-") || len(r.ID) != len("chatcmpl-")+29 {
				t.Errorf("id = %q", r.ID)
			}
			if r.Object != "chat.completion" || r.Model != tt.wantModel || !strings.HasPrefix(r.SystemFingerprint, "fp_") {
				t.Errorf("object %q, model %q, fingerprint %q", r.Object, r.Model, r.SystemFingerprint)
			}
			if r.Created != newClock().Now().Unix() {
				t.Errorf("created = %d", r.Created)
			}
			if len(r.PromptFilterResults) != 1 {
				t.Errorf("prompt_filter_results = %d entries", len(r.PromptFilterResults))
			}
			if len(r.Choices) != tt.wantN {
				t.Fatalf("%d choices, want %d", len(r.Choices), tt.wantN)
			}
			completion := 0
			for i, c := range r.Choices {
				if c.Index != i || c.Message.Role != "assistant" || c.Message.Content == "" {
					t.Errorf("choice %d: %+v", i, c)
				}
				if string(c.Message.Refusal) != "null" {
					t.Errorf("choice %d: refusal is not null", i)
				}
				if c.FinishReason != tt.wantFinish {
					t.Errorf("choice %d: finish_reason = %q, want %q", i, c.FinishReason, tt.wantFinish)
				}
				if len(c.ContentFilterResults) != 6 {
					t.Errorf("choice %d: content_filter_results has %d categories", i, len(c.ContentFilterResults))
				}
				n := tc.Count(tt.model, c.Message.Content)
				if tt.wantTokens > 0 && n != tt.wantTokens {
					t.Errorf("choice %d: %d tokens, want %d", i, n, tt.wantTokens)
				}
				if tt.wantTokens == 0 && (n < minAnswer || n > minAnswer+answerRange+minSentence+sentRange) {
					t.Errorf("choice %d: %d tokens, outside the default range", i, n)
				}
				completion += n
			}
			req, err := openai.ParseRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			want := openai.Usage{PromptTokens: tc.Prompt(tt.model, req), CompletionTokens: completion}
			want.TotalTokens = want.PromptTokens + want.CompletionTokens
			if diff := cmp.Diff(want, r.Usage); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			st := s.Stats()
			if st.Requests != 1 || st.Succeeded != 1 || st.PromptTokens != int64(want.PromptTokens) || st.CompletionTokens != int64(completion) {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func TestChatDeterministic(t *testing.T) {
	content := func(seed int64, body string) string {
		opts := testOptions(newClock())
		opts.Seed = seed
		s := newServer(t, opts)
		rec := call(s, "POST", chatPath, body)
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d: %s", rec.Code, rec.Body)
		}
		return decodeChat(t, rec.Body.Bytes()).Choices[0].Message.Content
	}
	a := content(1, helloChat)
	spaced := strings.ReplaceAll(helloChat, `","`, `", "`)
	tests := []struct {
		name string
		got  string
		same bool
	}{
		{name: "same seed and prompt", got: content(1, helloChat), same: true},
		{name: "whitespace does not matter", got: content(1, spaced), same: true},
		{name: "other prompt", got: content(1, `{"messages":[{"role":"user","content":"Something else."}]}`), same: false},
		{name: "other seed", got: content(2, helloChat), same: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.got == a) != tt.same {
				t.Errorf("content %q vs %q: same = %v, want %v", tt.got, a, tt.got == a, tt.same)
			}
		})
	}
}

func TestCompletions(t *testing.T) {
	tc := sharedCounter()
	opts := testOptions(newClock())
	opts.Deployments = append(opts.Deployments, Deployment{Name: "instruct", Model: "gpt-35-turbo-instruct", Version: "0914", Kind: KindCompletions})
	tests := []struct {
		name        string
		body        string
		wantChoices int
		wantPrompts int
	}{
		{name: "string prompt", body: `{"prompt":"Once upon a time","max_tokens":5}`, wantChoices: 1, wantPrompts: 1},
		{name: "no prompt", body: `{}`, wantChoices: 1, wantPrompts: 1},
		{name: "prompts and n", body: `{"prompt":["a","b"],"n":2}`, wantChoices: 4, wantPrompts: 2},
		{name: "token ids", body: `{"prompt":[1,2,3]}`, wantChoices: 1, wantPrompts: 1},
		{name: "token id arrays", body: `{"prompt":[[1,2],[3]]}`, wantChoices: 2, wantPrompts: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, opts)
			rec := call(s, "POST", "/openai/deployments/instruct/completions?api-version=2024-10-21", tt.body)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d: %s", rec.Code, rec.Body)
			}
			r := decodeChat(t, rec.Body.Bytes())
			if !strings.HasPrefix(r.ID, "cmpl-") || r.Object != "text_completion" || r.Model != "gpt-35-turbo-instruct-0914" {
				t.Errorf("id %q object %q model %q", r.ID, r.Object, r.Model)
			}
			if len(r.Choices) != tt.wantChoices || len(r.PromptFilterResults) != tt.wantPrompts {
				t.Fatalf("%d choices, %d prompt filter results", len(r.Choices), len(r.PromptFilterResults))
			}
			completion := 0
			for _, c := range r.Choices {
				completion += tc.Count("gpt-35-turbo-instruct", c.Text)
			}
			req, _ := openai.ParseRequest([]byte(tt.body))
			want := openai.Usage{PromptTokens: tc.Prompt("gpt-35-turbo-instruct", req), CompletionTokens: completion, TotalTokens: tc.Prompt("gpt-35-turbo-instruct", req) + completion}
			if diff := cmp.Diff(want, r.Usage); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}
	s := newServer(t, opts)
	for _, body := range []string{`{"prompt":[]}`, `{"prompt":{}}`, `{"prompt":[1.5]}`, `{"prompt":["a"],"n":129}`} {
		if rec := call(s, "POST", "/openai/deployments/instruct/completions?api-version=2024-10-21", body); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status = %d, want 400", body, rec.Code)
		}
	}
}

// TestGeneratedTextIsExact checks the property max_tokens relies on: every
// piece is one token, and the pieces tokenize the same joined as apart.
func TestGeneratedTextIsExact(t *testing.T) {
	tc := sharedCounter()
	for _, model := range []string{"gpt-4o-mini", "gpt-4", "gpt-35-turbo-instruct"} {
		t.Run(model, func(t *testing.T) {
			v := newVocabulary(tc, model)
			if len(v.lower) < 100 {
				t.Errorf("only %d usable words", len(v.lower))
			}
			for seed := range int64(200) {
				h := newHasher(seed, model)
				pieces, _ := v.generate(h.rand(), 0)
				text := strings.Join(pieces, "")
				if got := tc.Count(model, text); got != len(pieces) {
					t.Fatalf("seed %d: %q has %d tokens, %d pieces", seed, text, got, len(pieces))
				}
			}
		})
	}
}
