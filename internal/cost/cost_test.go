package cost

import (
	"math"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestBuiltin(t *testing.T) {
	tb, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if tb.Version == "" || tb.Currency != "USD" || !strings.Contains(tb.Source, "LIST prices") {
		t.Errorf("table header %q %q %q", tb.Version, tb.Currency, tb.Source)
	}
	tests := []struct {
		model string
		want  string
		ok    bool
	}{
		{"gpt-4o", "gpt-4o", true},
		{"GPT-4o-2024-11-20", "gpt-4o", true},
		{"gpt-4o-mini-2024-07-18", "gpt-4o-mini", true},
		{"gpt-4o-mini", "gpt-4o-mini", true},
		{"llama-3", "", false},
		{"gpt-4ox", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			p, ok := tb.Lookup(tt.model)
			if ok != tt.ok || (ok && p != tb.Models[tt.want]) {
				t.Errorf("Lookup(%q) = %+v, %v", tt.model, p, ok)
			}
		})
	}
}

func TestPriceCost(t *testing.T) {
	p := Price{Input: 2, CachedInput: 1, Output: 8, Audio: 40, ImageCall: 0.04, AudioCall: 0.006}
	tests := []struct {
		name string
		u    Usage
		kind CallKind
		want float64
	}{
		{"text", Usage{PromptTokens: 1_000_000, CompletionTokens: 500_000}, CallTokens, 2 + 4},
		{"cached part of the prompt", Usage{PromptTokens: 1_000_000, CachedTokens: 400_000}, CallTokens, 1.2 + 0.4},
		{"reasoning at the output price", Usage{CompletionTokens: 1_000_000, ReasoningTokens: 600_000}, CallTokens, 8},
		{"audio tokens", Usage{PromptTokens: 1_000_000, AudioPromptTokens: 1_000_000}, CallTokens, 40},
		{"details above their totals are clamped", Usage{PromptTokens: 10, CachedTokens: 50}, CallTokens, 10 * 1.0 / 1e6},
		{"image call", Usage{}, CallImage, 0.04},
		{"audio call", Usage{}, CallAudio, 0.006},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Cost(tt.u, tt.kind); !near(got, tt.want) {
				t.Errorf("Cost = %v, want %v", got, tt.want)
			}
			if c := p.Ceiling(tt.u.PromptTokens, tt.u.CompletionTokens, tt.kind); c+1e-12 < p.Cost(tt.u, tt.kind) {
				t.Errorf("Ceiling %v below the cost", c)
			}
		})
	}
}

func f(v float64) *float64 { return &v }

func TestPricer(t *testing.T) {
	deps := map[string]string{"chat": "gpt-4o-2024-11-20", "chat-ptu": "gpt-4o", "cheap": "gpt-4o-mini", "local": "llama-3"}
	p, err := NewPricer(Options{
		Overrides: []Override{
			{Model: "gpt-4o", Price: PartialPrice{Input: f(2)}},
			{Deployment: "cheap", Price: PartialPrice{Output: f(0.5)}},
			{Deployment: "local", Price: PartialPrice{Input: f(0.01), Output: f(0.01)}},
		},
		Provisioned: []string{"chat-ptu"},
		Deployments: deps,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Version(), "2025-08-list+cfg.") || p.Currency() != "USD" {
		t.Errorf("version %q currency %q", p.Version(), p.Currency())
	}
	u := Usage{PromptTokens: 1_000_000, CompletionTokens: 1_000_000}
	tests := []struct {
		dep  string
		want float64
		ok   bool
	}{
		{"chat", 2 + 10, true},      // model override on a dated model, table output
		{"chat-ptu", 0, true},       // provisioned: no marginal cost
		{"cheap", 0.15 + 0.5, true}, // deployment override
		{"local", 0.02, true},       // priced by config alone
		{"unknown", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.dep, func(t *testing.T) {
			got, ok := p.Cost(tt.dep, u, CallTokens)
			if ok != tt.ok || !near(got, tt.want) {
				t.Errorf("Cost = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	if c := p.Ceiling("chat-ptu", 1000, 1000, CallTokens); c != 0 {
		t.Errorf("provisioned ceiling %v", c)
	}
	other, err := NewPricer(Options{Currency: "jpy", Deployments: deps})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := other.Cost("chat", u, CallTokens); ok || other.Currency() != "JPY" {
		t.Error("another currency must drop the USD table")
	}
	if _, err := NewPricer(Options{Overrides: []Override{{Deployment: "nope"}}, Deployments: deps}); err == nil {
		t.Error("override of an unknown deployment accepted")
	}
	if _, err := NewPricer(Options{Provisioned: []string{"nope"}, Deployments: deps}); err == nil {
		t.Error("unknown provisioned deployment accepted")
	}
}

func BenchmarkCost(b *testing.B) {
	p, err := NewPricer(Options{Deployments: map[string]string{"chat": "gpt-4o"}})
	if err != nil {
		b.Fatal(err)
	}
	u := Usage{PromptTokens: 1200, CachedTokens: 300, CompletionTokens: 400, ReasoningTokens: 100}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = p.Cost("chat", u, CallTokens)
	}
}
