package dataplane

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/tokens"
)

// TestPromptCountStopsWhenClientLeaves: admission with a context that has
// ended does not count the prompt to the end; the call is refused as
// client_canceled and nothing is reserved.
func TestPromptCountStopsWhenClientLeaves(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := tokens.New()
	r, err := openai.ParseRequest([]byte(`{"messages":[{"role":"user","content":"` + strings.Repeat("word ", 100_000) + `"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{tokens: c, maxExactCount: 1 << 20}
	s := &scope{req: r, deployment: &deployment{model: "gpt-4o"}}
	n, err := p.promptTokens(ctx, s)
	if !errors.Is(err, context.Canceled) || n < 500_000 {
		t.Fatalf("promptTokens with a canceled context = %d, %v; want the upper bound and the context's error", n, err)
	}
}
