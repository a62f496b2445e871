package rbac

import (
	"regexp"
	"strings"
	"testing"
)

func TestMatchDataAction(t *testing.T) {
	const chat = "Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action"
	tests := []struct {
		name    string
		pattern string
		action  string
		want    bool
	}{
		{name: "exact", pattern: chat, action: chat, want: true},
		{name: "exact other case", pattern: strings.ToUpper(chat), action: chat, want: true},
		{name: "action other case", pattern: chat, action: strings.ToLower(chat), want: true},
		{name: "different", pattern: chat, action: "Microsoft.CognitiveServices/accounts/OpenAI/deployments/embeddings/action", want: false},
		{name: "prefix is not a match", pattern: "Microsoft.CognitiveServices/accounts/OpenAI/deployments", action: chat, want: false},
		{name: "trailing star spans slashes", pattern: "Microsoft.CognitiveServices/accounts/OpenAI/*", action: chat, want: true},
		{name: "star alone", pattern: "*", action: chat, want: true},
		{name: "star matches empty", pattern: "Moat/*", action: "Moat/", want: true},
		{name: "middle star spans slashes", pattern: "Microsoft.CognitiveServices/accounts/OpenAI/*/read", action: "Microsoft.CognitiveServices/accounts/OpenAI/deployments/models/read", want: true},
		{name: "middle star wrong suffix", pattern: "Microsoft.CognitiveServices/accounts/OpenAI/*/read", action: "Microsoft.CognitiveServices/accounts/OpenAI/files/write", want: false},
		{name: "middle star needs slash before read", pattern: "Microsoft.CognitiveServices/accounts/OpenAI/*/read", action: "Microsoft.CognitiveServices/accounts/OpenAI/read", want: false},
		{name: "leading star", pattern: "*/action", action: chat, want: true},
		{name: "two stars", pattern: "Microsoft.*/OpenAI/*/action", action: chat, want: true},
		{name: "two stars out of order", pattern: "*action*OpenAI*", action: chat, want: false},
		{name: "prefix and suffix must not overlap", pattern: "ab*ba", action: "aba", want: false},
		{name: "star case-insensitive", pattern: "microsoft.cognitiveservices/*", action: chat, want: true},
		{name: "other namespace", pattern: "Moat/*", action: chat, want: false},
		{name: "empty pattern matches only empty", pattern: "", action: chat, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchDataAction(tt.pattern, tt.action); got != tt.want {
				t.Errorf("MatchDataAction(%q, %q) = %v, want %v", tt.pattern, tt.action, got, tt.want)
			}
		})
	}
}

func TestScopeMatchIsCaseSensitive(t *testing.T) {
	tests := []struct {
		name       string
		scope      string
		deployment string
		want       bool
	}{
		{name: "root covers all", scope: "/", deployment: "gpt-4o", want: true},
		{name: "root covers no deployment", scope: "/", deployment: "", want: true},
		{name: "empty is root", scope: "", deployment: "x", want: true},
		{name: "exact", scope: "/deployments/gpt-4o", deployment: "gpt-4o", want: true},
		{name: "exact trailing slash", scope: "/deployments/gpt-4o/", deployment: "gpt-4o", want: true},
		{name: "other", scope: "/deployments/gpt-4o", deployment: "gpt-4o-mini", want: false},
		{name: "glob", scope: "/deployments/gpt-4o*", deployment: "gpt-4o-mini", want: true},
		{name: "glob middle", scope: "/deployments/gpt-*-mini", deployment: "gpt-4o-mini", want: true},
		{name: "case differs", scope: "/deployments/GPT-4o", deployment: "gpt-4o", want: false},
		{name: "deployment scope never covers no deployment", scope: "/deployments/*", deployment: "", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parseScope(tt.scope)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.covers(tt.deployment); got != tt.want {
				t.Errorf("scope %q covers %q = %v, want %v", tt.scope, tt.deployment, got, tt.want)
			}
		})
	}
}

func TestParseScopeRejects(t *testing.T) {
	for _, s := range []string{"/subscriptions/x", "deployments/x", "/deployments/", "/deployments/a/b", "//"} {
		t.Run(s, func(t *testing.T) {
			if _, err := parseScope(s); err == nil {
				t.Errorf("parseScope(%q) = nil error", s)
			}
		})
	}
}

// reference is an independent implementation: ASCII-lower both sides, turn
// the pattern into an anchored regexp.
func reference(pat, s string) bool {
	parts := strings.Split(lowerASCII(pat), "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	re := regexp.MustCompile(`(?s)\A` + strings.Join(parts, ".*") + `\z`)
	return re.MatchString(lowerASCII(s))
}

func FuzzMatchDataAction(f *testing.F) {
	f.Add("Microsoft.CognitiveServices/accounts/OpenAI/*/read", "Microsoft.CognitiveServices/accounts/OpenAI/models/read")
	f.Add("*", "")
	f.Add("a*b*a", "aba")
	f.Add("**", "x")
	f.Add("Moat/*", "moat/logs/read")
	f.Add("\xff*", "\xffK")
	f.Fuzz(func(t *testing.T, pat, s string) {
		if len(pat) > 200 || len(s) > 200 {
			return
		}
		got := MatchDataAction(pat, s)
		// regexp works on runes and replaces invalid UTF-8, so compare only
		// where both sides are valid text.
		if !validUTF8(pat) || !validUTF8(s) {
			return
		}
		if want := reference(pat, s); got != want {
			t.Errorf("MatchDataAction(%q, %q) = %v, reference says %v", pat, s, got, want)
		}
	})
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"object:abc", "GROUP: g", "appRole:Moat.Admin", "client:", ":x", "key:k1:2", "nokind"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			return
		}
		if !validKind(sel.Kind) || sel.Value == "" {
			t.Fatalf("ParseSelector(%q) = %+v, an invalid selector without error", s, sel)
		}
		again, err := ParseSelector(sel.String())
		if err != nil || again != sel {
			t.Fatalf("round trip of %q: %+v, %v", s, again, err)
		}
	})
}
