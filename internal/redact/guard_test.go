package redact

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func guardOf(t *testing.T, rules ...GuardRule) *Guard {
	t.Helper()
	return NewGuard(rules)
}

func TestGuardCheck(t *testing.T) {
	card, email, phone := builtin(t, Card), builtin(t, Email), builtin(t, Phone)
	g := guardOf(t, GuardRule{card, Block}, GuardRule{email, Mask}, GuardRule{phone, Flag})
	tests := []struct {
		name, body, blocked, masked string
		hits                        []string
	}{
		{name: "clean", body: `{"content":"hello"}`},
		{name: "block wins", body: `{"content":"4111111111111111 alice@example.com"}`, blocked: Card,
			hits: []string{"block:card"}},
		{name: "mask", body: `{"content":"write to alice@example.com"}`,
			masked: `{"content":"write to [REDACTED:email]"}`, hits: []string{"mask:email"}},
		{name: "flag only", body: `{"content":"call 03-1234-5678"}`, hits: []string{"flag:phone"}},
		{name: "mask and flag", body: `{"content":"alice@example.com 03-1234-5678"}`,
			masked: `{"content":"[REDACTED:email] 03-1234-5678"}`, hits: []string{"mask:email", "flag:phone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := g.Check([]byte(tt.body))
			if v.Blocked != tt.blocked {
				t.Errorf("Blocked = %q, want %q", v.Blocked, tt.blocked)
			}
			if string(v.Body) != tt.masked {
				t.Errorf("Body = %s, want %s", v.Body, tt.masked)
			}
			if diff := cmp.Diff(tt.hits, v.Hits); diff != "" {
				t.Errorf("Hits (-want +got):\n%s", diff)
			}
		})
	}
	if v := (*Guard)(nil).Check([]byte(`{"a":"4111111111111111"}`)); v.Blocked != "" || v.Hits != nil {
		t.Errorf("nil guard: %+v", v)
	}
}

// TestStreamGuardSplit finds a match split across events, once, and only
// when its last part arrives.
func TestStreamGuardSplit(t *testing.T) {
	tests := []struct {
		name    string
		pieces  []string
		blockAt int // index of the piece that blocks; -1 for none
	}{
		{name: "card split in two", pieces: []string{"my card is 4111 1111 ", "1111 1111 thanks"}, blockAt: 1},
		{name: "card in one piece", pieces: []string{"ok ", "4111111111111111", " done"}, blockAt: 1},
		{name: "card split in many", pieces: []string{"4", "1", "1", "1", "111111111111", " "}, blockAt: 4},
		{name: "no card", pieces: []string{"4111 1111 ", "1111 1112"}, blockAt: -1},
		{name: "far apart", pieces: []string{"4111 1111", strings.Repeat(" ", 2*StreamWindow), "1111 1111"}, blockAt: -1},
	}
	g := guardOf(t, GuardRule{builtin(t, Card), Block})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sg := g.Stream()
			got := -1
			for i, p := range tt.pieces {
				if r := sg.Feed([]byte(p)); r != "" && got < 0 {
					got = i
				}
			}
			if got != tt.blockAt {
				t.Errorf("blocked at piece %d, want %d", got, tt.blockAt)
			}
			if len(sg.window) > StreamWindow {
				t.Errorf("window holds %d bytes", len(sg.window))
			}
		})
	}
}

func TestStreamGuardMaskEvent(t *testing.T) {
	sg := guardOf(t, GuardRule{builtin(t, Email), Mask}).Stream()
	out := sg.MaskEvent([]byte(`{"choices":[{"delta":{"content":"to bob@example.com"}}]}`))
	if want := `{"choices":[{"delta":{"content":"to [REDACTED:email]"}}]}`; string(out) != want {
		t.Errorf("MaskEvent = %s, want %s", out, want)
	}
	if out := sg.MaskEvent([]byte(`{"choices":[]}`)); out != nil {
		t.Errorf("MaskEvent of a clean event = %s", out)
	}
	if diff := cmp.Diff([]string{"mask:email"}, sg.Hits()); diff != "" {
		t.Error(diff)
	}
}

func TestJoinHits(t *testing.T) {
	if got := JoinHits([]string{"mask:email", "block:card", "mask:email"}); got != "block:card,mask:email" {
		t.Errorf("JoinHits = %q", got)
	}
}

// TestGuardOverlap: a block match is found even when a match of another
// rule overlaps it, plain and streamed.
func TestGuardOverlap(t *testing.T) {
	label, err := Custom("card_label", `card [0-9]{4}`)
	if err != nil {
		t.Fatal(err)
	}
	g := guardOf(t, GuardRule{label, Flag}, GuardRule{builtin(t, Card), Block})
	if v := g.Check([]byte(`{"c":"card 4111 1111 1111 1111"}`)); v.Blocked != Card {
		t.Errorf("Check: %+v", v)
	}
	sg := g.Stream()
	if r := sg.Feed([]byte("card 4111 1111")); r != "" {
		t.Fatalf("blocked early: %s", r)
	}
	if r := sg.Feed([]byte(" 1111 1111")); r != Card {
		t.Errorf("Feed = %q, want card", r)
	}
}

// FuzzStreamGuard feeds arbitrary pieces: it never panics, the window
// stays bounded, and a card number fed whole in one piece is always found.
func FuzzStreamGuard(f *testing.F) {
	f.Add([]byte("card 4111 1111 "), []byte("1111 1111 ok"))
	f.Add([]byte("\xff\xfe@"), []byte("a@b.co"))
	g := NewGuard([]GuardRule{{mustBuiltin(Card), Block}, {mustBuiltin(Email), Mask}, {mustBuiltin(Phone), Flag}})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		sg := g.Stream()
		sg.Feed(a)
		sg.Feed(b)
		if len(sg.window) > StreamWindow {
			t.Fatalf("window %d bytes", len(sg.window))
		}
		if r := sg.Feed([]byte(" 4111111111111111 ")); r != Card {
			t.Fatalf("card not blocked after %q %q: %q", a, b, r)
		}
		_ = sg.MaskEvent(a)
	})
}

func mustBuiltin(name string) Rule {
	r, _ := Builtin(name)
	return r
}
