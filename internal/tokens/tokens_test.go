package tokens

import (
	"sync"
	"testing"

	"github.com/moat-gw/moat/internal/openai"
)

func TestEncoding(t *testing.T) {
	c := New()
	tests := []struct {
		name  string
		model string
		want  string
	}{
		{name: "gpt-4o", model: "gpt-4o", want: O200kBase},
		{name: "gpt-4o-mini", model: "gpt-4o-mini", want: O200kBase},
		{name: "gpt-4o dated", model: "gpt-4o-2024-08-06", want: O200kBase},
		{name: "gpt-4o-mini dated", model: "gpt-4o-mini-2024-07-18", want: O200kBase},
		{name: "chatgpt-4o", model: "chatgpt-4o-latest", want: O200kBase},
		{name: "gpt-4.1", model: "gpt-4.1", want: O200kBase},
		{name: "gpt-4.1-nano", model: "gpt-4.1-nano", want: O200kBase},
		{name: "gpt-5", model: "gpt-5", want: O200kBase},
		{name: "gpt-5-mini", model: "gpt-5-mini", want: O200kBase},
		{name: "gpt-5.1", model: "gpt-5.1", want: O200kBase},
		{name: "o1", model: "o1", want: O200kBase},
		{name: "o1-mini", model: "o1-mini", want: O200kBase},
		{name: "o3-mini", model: "o3-mini", want: O200kBase},
		{name: "o4-mini", model: "o4-mini", want: O200kBase},
		{name: "upper case", model: "GPT-4O-MINI", want: O200kBase},
		{name: "gpt-4", model: "gpt-4", want: Cl100kBase},
		{name: "gpt-4-32k", model: "gpt-4-32k", want: Cl100kBase},
		{name: "gpt-4-turbo dated", model: "gpt-4-turbo-2024-04-09", want: Cl100kBase},
		{name: "gpt-4-0613", model: "gpt-4-0613", want: Cl100kBase},
		{name: "azure gpt-35-turbo", model: "gpt-35-turbo", want: Cl100kBase},
		{name: "azure gpt-35-turbo-16k", model: "gpt-35-turbo-16k", want: Cl100kBase},
		{name: "gpt-3.5-turbo-instruct", model: "gpt-3.5-turbo-instruct", want: Cl100kBase},
		{name: "text-embedding-3-small", model: "text-embedding-3-small", want: Cl100kBase},
		{name: "text-embedding-3-large", model: "text-embedding-3-large", want: Cl100kBase},
		{name: "text-embedding-ada-002", model: "text-embedding-ada-002", want: Cl100kBase},
		{name: "fine-tuned gpt-4", model: "ft:gpt-4-0613:org::abc", want: Cl100kBase},
		{name: "fine-tuned gpt-4o", model: "ft:gpt-4o-mini-2024-07-18:org::abc", want: O200kBase},
		{name: "unknown deployment name", model: "my-chat", want: O200kBase},
		{name: "empty", model: "", want: O200kBase},
		{name: "gpt-4 prefix is not a family", model: "gpt-4omega", want: O200kBase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Encoding(tt.model); got != tt.want {
				t.Errorf("Encoding(%q) = %q, want %q", tt.model, got, tt.want)
			}
		})
	}
}

func TestCount(t *testing.T) {
	c := New()
	tests := []struct {
		name  string
		model string
		text  string
		want  int
	}{
		// Counts published by OpenAI (tiktoken, cookbook) and pinned by the
		// tokenizer module's own token-ID tests.
		{name: "cl100k hello world", model: "gpt-4", text: "hello world", want: 2},
		{name: "o200k hello world", model: "gpt-4o", text: "hello world", want: 2},
		{name: "cl100k tiktoken is great", model: "gpt-3.5-turbo", text: "tiktoken is great!", want: 6},
		{name: "cl100k antidisestablishmentarianism", model: "gpt-4", text: "antidisestablishmentarianism", want: 6},
		{name: "cl100k arithmetic", model: "gpt-4", text: "2 + 2 = 4", want: 7},
		{name: "cl100k japanese", model: "gpt-4", text: "お誕生日おめでとう", want: 9},
		{name: "cl100k supercalifragilistic", model: "text-embedding-3-small", text: "supercalifragilistic", want: 7},
		{name: "o200k supercalifragilistic", model: "gpt-4o-mini", text: "supercalifragilistic", want: 6},
		{name: "o200k double space", model: "gpt-4.1", text: "hello  world", want: 3},
		{name: "o200k sentence", model: "gpt-5", text: "We know what we are, but know not what we may be.", want: 14},
		{name: "cl100k sentence", model: "gpt-35-turbo", text: "We know what we are, but know not what we may be.", want: 14},
		{name: "empty", model: "gpt-4o", text: "", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Count(tt.model, tt.text); got != tt.want {
				t.Errorf("Count(%q, %q) = %d, want %d", tt.model, tt.text, got, tt.want)
			}
		})
	}
}

// cookbookMessages is the example conversation of OpenAI's cookbook
// ("How to format inputs to ChatGPT models"), whose prompt_tokens the API
// reported as 129 for gpt-3.5-turbo/gpt-4 and 124 for gpt-4o/gpt-4o-mini.
const cookbookMessages = `{"messages":[
{"role":"system","content":"You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
{"role":"system","name":"example_user","content":"New synergies will help drive top-line growth."},
{"role":"system","name":"example_assistant","content":"Things working well together will increase revenue."},
{"role":"system","name":"example_user","content":"Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
{"role":"system","name":"example_assistant","content":"Let's talk later when we're less busy about how to do better."},
{"role":"user","content":"This late pivot means we don't have time to boil the ocean for the client deliverable."}]}`

func TestPrompt(t *testing.T) {
	c := New()
	tests := []struct {
		name  string
		model string
		body  string
		want  int
	}{
		{name: "cookbook cl100k", model: "gpt-4-0613", body: cookbookMessages, want: 129},
		{name: "cookbook gpt-35-turbo", model: "gpt-35-turbo", body: cookbookMessages, want: 129},
		{name: "cookbook o200k", model: "gpt-4o", body: cookbookMessages, want: 124},
		{name: "cookbook o200k mini", model: "gpt-4o-mini", body: cookbookMessages, want: 124},
		// 3 (message) + 1 (user) + 2 (hello world) + 3 (reply).
		{name: "one message", model: "gpt-4o", body: `{"messages":[{"role":"user","content":"hello world"}]}`, want: 9},
		{name: "content parts", model: "gpt-4o", body: `{"messages":[{"role":"user","content":[{"type":"text","text":"hello world"}]}]}`, want: 9},
		{name: "empty messages", model: "gpt-4o", body: `{"messages":[]}`, want: 3},
		{name: "completions prompt", model: "gpt-35-turbo-instruct", body: `{"prompt":"hello world"}`, want: 2},
		{name: "completions prompts", model: "gpt-35-turbo-instruct", body: `{"prompt":["hello world","tiktoken is great!"]}`, want: 8},
		{name: "completions token ids", model: "gpt-35-turbo-instruct", body: `{"prompt":[15339,1917]}`, want: 2},
		{name: "embeddings string", model: "text-embedding-3-small", body: `{"input":"hello world"}`, want: 2},
		{name: "embeddings strings", model: "text-embedding-3-small", body: `{"input":["hello world","2 + 2 = 4"]}`, want: 9},
		{name: "embeddings token arrays", model: "text-embedding-3-small", body: `{"input":[[1,2,3],[4,5]]}`, want: 5},
		{name: "responses", model: "gpt-4o", body: `{"input":"hello world","instructions":"hello world"}`, want: 4},
		{name: "no text", model: "gpt-4o", body: `{}`, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := openai.ParseRequest([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if got := c.Prompt(tt.model, r); got != tt.want {
				t.Errorf("Prompt(%q) = %d, want %d", tt.model, got, tt.want)
			}
		})
	}
	if got := c.Prompt("gpt-4o", nil); got != 0 {
		t.Errorf("Prompt(nil) = %d, want 0", got)
	}
}

func TestCounterConcurrent(t *testing.T) {
	c := New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			model := "gpt-4o"
			if i%2 == 0 {
				model = "gpt-4"
			}
			if got := c.Count(model, "hello world"); got != 2 {
				t.Errorf("Count = %d, want 2", got)
			}
		})
	}
	wg.Wait()
}

func BenchmarkCountSentence(b *testing.B) {
	c := New()
	text := "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."
	c.Count("gpt-4o", text)
	b.ReportAllocs()
	for b.Loop() {
		c.Count("gpt-4o", text)
	}
}

func BenchmarkPromptChat(b *testing.B) {
	c := New()
	r, err := openai.ParseRequest([]byte(cookbookMessages))
	if err != nil {
		b.Fatal(err)
	}
	c.Prompt("gpt-4o", r)
	b.ReportAllocs()
	for b.Loop() {
		c.Prompt("gpt-4o", r)
	}
}

// FuzzPrompt feeds arbitrary request bodies to Prompt: it must not panic and
// must never count below zero.
func FuzzPrompt(f *testing.F) {
	for _, s := range []string{cookbookMessages, `{"prompt":[[1,2],[3]]}`, `{"input":["a",[1]]}`, `{"messages":[1,"x",null]}`, `{"messages":{}}`} {
		f.Add(s)
	}
	c := New()
	f.Fuzz(func(t *testing.T, body string) {
		r, err := openai.ParseRequest([]byte(body))
		if err != nil {
			return
		}
		for _, model := range []string{"gpt-4o", "gpt-4"} {
			if n := c.Prompt(model, r); n < 0 {
				t.Fatalf("Prompt = %d", n)
			}
		}
	})
}
