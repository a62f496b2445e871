package upstream

import (
	"net/url"
	"strings"
	"testing"
)

// TestJoinPath: joinPath builds what JoinPath builds, on its fast path and
// off it.
func TestJoinPath(t *testing.T) {
	for _, tc := range []struct {
		name string
		base string
		elem []string
	}{
		{name: "root", base: "https://a.example/", elem: []string{"openai", "deployments", "gpt-4o", "chat/completions"}},
		{name: "prefix", base: "https://a.example/api/v2", elem: []string{"openai", "v1", "responses"}},
		{name: "prefix trailing slash", base: "https://a.example/api/", elem: []string{"v1", "messages"}},
		{name: "dotted name", base: "https://a.example/", elem: []string{"openai", "deployments", "gpt-4.1.mini"}},
		{name: "escaped name", base: "https://a.example/", elem: []string{"openai", "deployments", url.PathEscape("a b/c"), "embeddings"}},
		{name: "dot dot", base: "https://a.example/x/", elem: []string{"..", "y"}},
		{name: "dot segment", base: "https://a.example/x", elem: []string{"a/./b"}},
		{name: "empty element", base: "https://a.example/x", elem: []string{"", "b"}},
		{name: "trailing slash element", base: "https://a.example/x", elem: []string{"b/"}},
		{name: "double slash base", base: "https://a.example//x", elem: []string{"b"}},
		{name: "escaped base", base: "https://a.example/a%2Fb", elem: []string{"c"}},
		{name: "sub-delims", base: "https://a.example/a", elem: []string{"b:c", "d@e"}},
		{name: "no elements", base: "https://a.example/a", elem: nil},
		{name: "no elements, trailing slash", base: "https://a.example/a/", elem: nil},
		{name: "no elements, root", base: "https://a.example/", elem: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkJoinPath(t, tc.base, tc.elem)
		})
	}
}

// FuzzJoinPath: for any base path and elements, joinPath agrees with JoinPath.
func FuzzJoinPath(f *testing.F) {
	f.Add("/", "openai/deployments/gpt-4o/chat/completions")
	f.Add("/api/", "../x/./y/")
	f.Add("/a%2Fb", "c//d")
	f.Fuzz(func(t *testing.T, basePath, elems string) {
		if !strings.HasPrefix(basePath, "/") {
			basePath = "/" + basePath // New makes every base path absolute
		}
		checkJoinPath(t, "https://a.example"+basePath, strings.Split(elems, "\x00"))
	})
}

func checkJoinPath(t *testing.T, base string, elem []string) {
	t.Helper()
	b, err := url.Parse(base)
	if err != nil {
		t.Skip(err)
	}
	want, got := b.JoinPath(elem...), joinPath(b, elem...)
	if *got != *want || got.String() != want.String() {
		t.Fatalf("joinPath(%q, %q) = %#v, want %#v", base, elem, got, want)
	}
}
