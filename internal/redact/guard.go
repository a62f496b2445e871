package redact

import (
	"slices"
	"strings"
)

// Guardrail actions, as config spells them.
const (
	// Block refuses a prompt with Azure's content-filter error, and cuts a
	// completion with finish_reason "content_filter".
	Block = "block"
	// Mask rewrites the matched text, as redaction does, and lets the call
	// go on.
	Mask = "mask"
	// Flag only records the match (request-log column and metric).
	Flag = "flag"
)

// GuardRule is a rule with the action taken when it matches.
type GuardRule struct {
	Rule   Rule
	Action string // Block, Mask or Flag
}

// Guard applies guardrail rules to one direction of a call (prompts or
// completions). A nil *Guard checks nothing.
type Guard struct {
	all               *Set // every rule: one pass tells whether anything matched
	block, mask, flag *Set
}

// NewGuard groups rules by action. It returns nil when rules is empty.
func NewGuard(rules []GuardRule) *Guard {
	if len(rules) == 0 {
		return nil
	}
	var b, m, f, all []Rule
	for _, r := range rules {
		all = append(all, r.Rule)
		switch r.Action {
		case Block:
			b = append(b, r.Rule)
		case Mask:
			m = append(m, r.Rule)
		default:
			f = append(f, r.Rule)
		}
	}
	return &Guard{all: NewSet(all...), block: NewSet(b...), mask: NewSet(m...), flag: NewSet(f...)}
}

// Verdict is what a guard found.
type Verdict struct {
	// Blocked names the block rule that matched, or "".
	Blocked string
	// Body is the masked body when a mask rule matched (and nothing
	// blocked), else nil.
	Body []byte
	// Hits lists "action:rule" for every rule that matched, blocks first.
	Hits []string
}

// Check applies the guard to a JSON body (or text): blocks first, then
// masks, then flags.
func (g *Guard) Check(body []byte) Verdict {
	var v Verdict
	if g == nil || len(body) == 0 {
		return v
	}
	// One pass with every rule: most bodies match nothing and stop here.
	// When something matched, each action's rules run on their own, since
	// in the shared pass a match of one rule may hide an overlapping match
	// of another.
	if _, hits := g.all.Body(body); len(hits) == 0 {
		return v
	}
	if _, hit := g.block.Body(body); len(hit) > 0 {
		v.Blocked = hit[0]
		v.Hits = tag(v.Hits, Block, hit)
	}
	if v.Blocked == "" {
		if out, hit := g.mask.Body(body); len(hit) > 0 {
			v.Body = out
			v.Hits = tag(v.Hits, Mask, hit)
			body = out
		}
	}
	if _, hit := g.flag.Body(body); len(hit) > 0 {
		v.Hits = tag(v.Hits, Flag, hit)
	}
	return v
}

// MasksOrBlocks reports whether the guard can change what passes (and so
// needs a whole answer before letting it through).
func (g *Guard) MasksOrBlocks() bool {
	return g != nil && (!g.block.Empty() || !g.mask.Empty())
}

func tag(out []string, action string, rules []string) []string {
	for _, r := range rules {
		if h := action + ":" + r; !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// JoinHits renders hits for the request-log column: "action:rule" items
// joined by commas, sorted, without repeats.
func JoinHits(hits []string) string {
	if len(hits) == 0 {
		return ""
	}
	h := slices.Clone(hits)
	slices.Sort(h)
	return strings.Join(slices.Compact(h), ",")
}

// StreamWindow is how much of a stream's earlier text a StreamGuard keeps,
// so that a match split across events is still found: longer than any
// built-in match (an e-mail address may reach 254 bytes).
const StreamWindow = 512

// StreamGuard checks the text of a streamed completion event by event. It
// keeps the last StreamWindow bytes of text, so that a match split across
// events is found when its last part arrives, in memory bounded whatever
// the stream's length.
type StreamGuard struct {
	g      *Guard
	window []byte
	hits   []string
}

// Stream returns a StreamGuard, or nil for a nil guard.
func (g *Guard) Stream() *StreamGuard {
	if g == nil {
		return nil
	}
	return &StreamGuard{g: g, window: make([]byte, 0, 2*StreamWindow)}
}

// Feed adds the text of one event. It returns the name of a block rule
// that matched text ending in this event, or "". Mask rules are applied
// to events by the caller (MaskEvent); across events they are recorded as
// hits only, since the first part has already reached the client.
func (sg *StreamGuard) Feed(text []byte) (blocked string) {
	if sg == nil || len(text) == 0 {
		return ""
	}
	from := len(sg.window)
	buf := append(sg.window, text...)
	if ms := sg.g.all.Find(buf); len(ms) > 0 {
		// Something matched in the window: each action's rules on their
		// own, as in Check (a match of one rule may hide an overlapping
		// match of another in the shared pass).
		for _, set := range []struct {
			s      *Set
			action string
		}{{sg.g.block, Block}, {sg.g.mask, Mask}, {sg.g.flag, Flag}} {
			for _, m := range set.s.Find(buf) {
				if m.End <= from {
					continue // seen with an earlier event
				}
				sg.hits = tag(sg.hits, set.action, []string{m.Rule})
				if set.action == Block && blocked == "" {
					blocked = m.Rule
				}
			}
		}
	}
	if len(buf) > StreamWindow {
		buf = append(buf[:0], buf[len(buf)-StreamWindow:]...)
	}
	sg.window = buf
	return blocked
}

// MaskEvent applies the mask rules to one event's JSON data, so that a
// match inside one event never reaches the client; it returns nil when
// nothing changed.
func (sg *StreamGuard) MaskEvent(data []byte) []byte {
	if sg == nil || sg.g.mask.Empty() {
		return nil
	}
	out, hit := sg.g.mask.JSON(data)
	if len(hit) == 0 {
		return nil
	}
	sg.hits = tag(sg.hits, Mask, hit)
	return out
}

// Hits lists "action:rule" for every rule that matched so far.
func (sg *StreamGuard) Hits() []string {
	if sg == nil {
		return nil
	}
	return sg.hits
}
