package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// msgWire is the Messages API request body as the simulator reads it.
// Members it does not use (metadata, service_tier, container, …) are
// accepted and ignored, as the model ignores what it does not use.
type msgWire struct {
	Model         *string           `json:"model"`
	MaxTokens     *int              `json:"max_tokens"`
	Messages      json.RawMessage   `json:"messages"`
	System        json.RawMessage   `json:"system"`
	StopSequences []string          `json:"stop_sequences"`
	Stream        bool              `json:"stream"`
	Temperature   *float64          `json:"temperature"`
	TopP          *float64          `json:"top_p"`
	TopK          *int              `json:"top_k"`
	Tools         []json.RawMessage `json:"tools"`
	ToolChoice    *msgToolChoice    `json:"tool_choice"`
	// CacheControl at the top level caches the prompt up to its last
	// block, as if that block carried it.
	CacheControl *cacheControl `json:"cache_control"`
	Thinking     *struct {
		Type         string `json:"type"`
		BudgetTokens *int   `json:"budget_tokens"`
	} `json:"thinking"`
}

type msgToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
}

// msgBlock is one content block of a message or of the system prompt.
type msgBlock struct {
	Type         string          `json:"type"`
	Text         string          `json:"text"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	ToolUseID    string          `json:"tool_use_id"`
	Content      json.RawMessage `json:"content"`
	Thinking     string          `json:"thinking"`
	Data         string          `json:"data"`
	CacheControl *cacheControl   `json:"cache_control"`
}

type cacheControl struct {
	Type string `json:"type"`
	TTL  string `json:"ttl"`
}

// msgTool is a client tool definition. Server tools (web_search and the
// like, which carry a "type") are accepted and never called.
type msgTool struct {
	Type         string          `json:"type"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl *cacheControl   `json:"cache_control"`
	schema       any
}

// msgRequest is a validated Messages request: what shapes the answer and
// the prompt cut into segments in the order the cache sees them (tools,
// system, messages), for token counting and prompt caching.
type msgRequest struct {
	model      string
	maxTokens  int // 0 for count_tokens
	stream     bool
	stops      []string
	tools      []msgTool // client tools only
	choice     msgToolChoice
	thinking   int // budget_tokens; 0 when thinking is off
	segments   []segment
	messages   int
	lastUser   string // the last user message's text, lower-cased
	toolResult bool   // the last message carries tool_result blocks
	seed       []byte // what the answer is drawn from: system and messages, compacted
}

// segment is one cacheable piece of the prompt.
type segment struct {
	text  string
	image bool          // an image or document block, counted at a flat rate
	cache time.Duration // the cache_control TTL set on this block, 0 if none
}

// msgError is an Anthropic error: status, error.type and message.
type msgError struct {
	status  int
	typ     string
	message string
}

func invalid(format string, args ...any) *msgError {
	return &msgError{http.StatusBadRequest, "invalid_request_error", fmt.Sprintf(format, args...)}
}

// maxCacheBreakpoints is how many blocks may carry cache_control.
const maxCacheBreakpoints = 4

// parseMessages reads and validates a Messages (count false) or
// count_tokens (count true) body, in the order the API reports problems:
// required fields, then each field, then the cross-field rules.
func parseMessages(body []byte, count bool) (*msgRequest, *msgError) {
	var w msgWire
	if err := json.Unmarshal(body, &w); err != nil {
		if !json.Valid(body) {
			return nil, invalid("There was an issue with your request body: the body is not valid JSON.")
		}
		return nil, invalid("There was an issue with your request body: %s", jsonProblem(err))
	}
	var missing []string
	if w.Model == nil {
		missing = append(missing, "model")
	}
	if len(bytes.TrimSpace(w.Messages)) == 0 || string(bytes.TrimSpace(w.Messages)) == "null" {
		missing = append(missing, "messages")
	}
	if !count && w.MaxTokens == nil {
		missing = append(missing, "max_tokens")
	}
	if len(missing) > 0 {
		return nil, invalid("%s: Field required", strings.Join(missing, ": Field required, "))
	}
	r := &msgRequest{model: *w.Model, stream: w.Stream}
	if r.model == "" {
		return nil, invalid("model: String should have at least 1 character")
	}
	if !count {
		if *w.MaxTokens < 1 {
			return nil, invalid("max_tokens: Input should be greater than or equal to 1")
		}
		r.maxTokens = *w.MaxTokens
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"temperature", w.Temperature}, {"top_p", w.TopP}} {
		switch {
		case f.v == nil:
		case *f.v < 0:
			return nil, invalid("%s: Input should be greater than or equal to 0", f.name)
		case *f.v > 1:
			return nil, invalid("%s: Input should be less than or equal to 1", f.name)
		}
	}
	if w.TopK != nil && *w.TopK < 0 {
		return nil, invalid("top_k: Input should be greater than or equal to 0")
	}
	for i, s := range w.StopSequences {
		if strings.TrimSpace(s) == "" {
			return nil, invalid("stop_sequences.%d: each stop sequence must contain non-whitespace", i)
		}
	}
	r.stops = w.StopSequences

	var bad *msgError
	if bad = r.readTools(w.Tools); bad != nil {
		return nil, bad
	}
	if bad = r.readSystem(w.System); bad != nil {
		return nil, bad
	}
	if bad = r.readMessages(w.Messages); bad != nil {
		return nil, bad
	}
	if bad = r.readChoice(w.ToolChoice); bad != nil {
		return nil, bad
	}
	if t := w.Thinking; t != nil {
		switch t.Type {
		case "disabled":
		case "adaptive":
			// The model decides how much to think: the simulator thinks
			// as it would on the smallest budget.
			if r.choice.Type == "any" || r.choice.Type == "tool" {
				return nil, invalid("Thinking may not be enabled when tool_choice forces tool use.")
			}
			r.thinking = 1024
		case "enabled":
			if t.BudgetTokens == nil {
				return nil, invalid("thinking.enabled.budget_tokens: Field required")
			}
			if *t.BudgetTokens < 1024 {
				return nil, invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
			}
			if !count && *t.BudgetTokens >= r.maxTokens {
				return nil, invalid("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size")
			}
			if w.Temperature != nil && *w.Temperature != 1 {
				return nil, invalid("`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility")
			}
			if w.TopK != nil {
				return nil, invalid("`top_k` is not supported when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility")
			}
			if r.choice.Type == "any" || r.choice.Type == "tool" {
				return nil, invalid("Thinking may not be enabled when tool_choice forces tool use.")
			}
			r.thinking = *t.BudgetTokens
		default:
			return nil, invalid("thinking: Input tag '%s' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'", t.Type)
		}
	}
	if w.CacheControl != nil && len(r.segments) > 0 {
		ttl, bad := cacheTTL(w.CacheControl, "cache_control")
		if bad != nil {
			return nil, bad
		}
		if last := &r.segments[len(r.segments)-1]; last.cache == 0 {
			last.cache = ttl
		}
	}
	breakpoints := 0
	for _, s := range r.segments {
		if s.cache > 0 {
			breakpoints++
		}
	}
	if breakpoints > maxCacheBreakpoints {
		return nil, invalid("A maximum of %d blocks with cache_control may be provided. Found %d.", maxCacheBreakpoints, breakpoints)
	}
	return r, nil
}

// readTools keeps client tools with their decoded input schema.
func (r *msgRequest) readTools(raw []json.RawMessage) *msgError {
	seen := map[string]bool{}
	for i, tr := range raw {
		var t msgTool
		if err := json.Unmarshal(tr, &t); err != nil {
			return invalid("tools.%d: Input should be a valid dictionary or object", i)
		}
		if !validToolName(t.Name) {
			return invalid("tools.%d.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'", i)
		}
		if seen[t.Name] {
			return invalid("tools: Tool names must be unique.")
		}
		seen[t.Name] = true
		ttl, bad := cacheTTL(t.CacheControl, fmt.Sprintf("tools.%d", i))
		if bad != nil {
			return bad
		}
		if t.Type != "" && t.Type != "custom" {
			// A server tool: counted, never called by the simulated model.
			r.segments = append(r.segments, segment{text: t.Type + t.Name, cache: ttl})
			continue
		}
		if len(bytes.TrimSpace(t.InputSchema)) == 0 {
			return invalid("tools.%d.custom.input_schema: Field required", i)
		}
		if json.Unmarshal(t.InputSchema, &t.schema) != nil {
			return invalid("tools.%d.custom.input_schema: Input should be a valid dictionary", i)
		}
		if m, ok := t.schema.(map[string]any); !ok || m["type"] != "object" {
			return invalid("tools.%d.custom.input_schema.type: Input should be 'object'", i)
		}
		var def bytes.Buffer
		_ = json.Compact(&def, t.InputSchema)
		r.segments = append(r.segments, segment{text: t.Name + "\n" + t.Description + "\n" + def.String(), cache: ttl})
		r.tools = append(r.tools, t)
	}
	return nil
}

// validToolName is the pattern ^[a-zA-Z0-9_-]{1,128}$.
func validToolName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// cacheTTL reads a block's cache_control: 5 minutes unless ttl is "1h".
func cacheTTL(c *cacheControl, where string) (time.Duration, *msgError) {
	if c == nil {
		return 0, nil
	}
	if c.Type != "ephemeral" {
		return 0, invalid("%s.cache_control.ephemeral.type: Input should be 'ephemeral'", where)
	}
	switch c.TTL {
	case "", "5m":
		return 5 * time.Minute, nil
	case "1h":
		return time.Hour, nil
	}
	return 0, invalid("%s.cache_control.ephemeral.ttl: Input should be '5m' or '1h'", where)
}

// readSystem reads system: a string or an array of text blocks.
func (r *msgRequest) readSystem(raw json.RawMessage) *msgError {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	r.seed = append(r.seed, raw...)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		r.segments = append(r.segments, segment{text: s})
		return nil
	}
	var blocks []msgBlock
	if json.Unmarshal(raw, &blocks) != nil {
		return invalid("system: Input should be a valid string or a valid list")
	}
	for i, b := range blocks {
		where := fmt.Sprintf("system.%d", i)
		if b.Type != "text" {
			return invalid("%s.type: Input should be 'text'", where)
		}
		ttl, bad := cacheTTL(b.CacheControl, where)
		if bad != nil {
			return bad
		}
		r.segments = append(r.segments, segment{text: b.Text, cache: ttl})
	}
	return nil
}

// readMessages reads the conversation: roles, content blocks, and the
// pairing of tool_use and tool_result blocks across turns.
func (r *msgRequest) readMessages(raw json.RawMessage) *msgError {
	var msgs []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(raw, &msgs) != nil {
		return invalid("messages: Input should be a valid list")
	}
	if len(msgs) == 0 {
		return invalid("messages: at least one message is required")
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, raw)
	r.seed = append(r.seed, compact.Bytes()...)
	r.messages = len(msgs)
	var pending []string // tool_use ids of the previous assistant turn
	for i, m := range msgs {
		if m.Role != "user" && m.Role != "assistant" {
			return invalid("messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		blocks, bad := messageBlocks(m.Content, i)
		if bad != nil {
			return bad
		}
		var uses, results []string
		var text strings.Builder
		for j, b := range blocks {
			where := fmt.Sprintf("messages.%d.content.%d", i, j)
			ttl, bad := cacheTTL(b.CacheControl, where)
			if bad != nil {
				return bad
			}
			seg := segment{cache: ttl}
			switch b.Type {
			case "text":
				seg.text = b.Text
				text.WriteString(b.Text)
				text.WriteByte(' ')
			case "image", "document":
				seg.image = true
			case "tool_use", "server_tool_use":
				if m.Role != "assistant" {
					return invalid("%s: tool_use blocks may only appear in assistant messages", where)
				}
				seg.text = b.Name + string(b.Input)
				if b.Type == "tool_use" {
					uses = append(uses, b.ID)
				}
			case "tool_result":
				if m.Role != "user" {
					return invalid("%s: tool_result blocks may only appear in user messages", where)
				}
				seg.text = messageText(b.Content)
				results = append(results, b.ToolUseID)
			case "thinking":
				seg.text = b.Thinking
			case "redacted_thinking":
				seg.text = b.Data
			case "search_result", "web_search_tool_result", "container_upload":
				seg.text = messageText(b.Content)
			default:
				return invalid("%s.type: Input tag '%s' found using 'type' does not match any of the expected tags: 'text', 'image', 'document', 'search_result', 'thinking', 'redacted_thinking', 'tool_use', 'tool_result', 'server_tool_use', 'web_search_tool_result'", where, b.Type)
			}
			r.segments = append(r.segments, seg)
		}
		for _, id := range results {
			if !slices.Contains(pending, id) {
				return invalid("messages.%d.content: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, id)
			}
		}
		if len(pending) > 0 {
			var unanswered []string
			for _, id := range pending {
				if !slices.Contains(results, id) {
					unanswered = append(unanswered, id)
				}
			}
			if len(unanswered) > 0 {
				return invalid("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i-1, strings.Join(unanswered, ", "))
			}
		}
		pending = uses
		if m.Role == "user" {
			r.lastUser = strings.ToLower(text.String())
		}
		r.toolResult = len(results) > 0
	}
	return nil
}

// messageBlocks reads a message's content: a string is one text block.
func messageBlocks(raw json.RawMessage, i int) ([]msgBlock, *msgError) {
	raw = bytes.TrimSpace(raw)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []msgBlock{{Type: "text", Text: s}}, nil
	}
	var blocks []msgBlock
	if len(raw) == 0 || json.Unmarshal(raw, &blocks) != nil {
		return nil, invalid("messages.%d.content: Input should be a valid string or a valid list", i)
	}
	return blocks, nil
}

// readChoice reads tool_choice against the declared tools; absent it is
// auto with tools and none without.
func (r *msgRequest) readChoice(c *msgToolChoice) *msgError {
	if c == nil {
		r.choice.Type = "auto"
		return nil
	}
	r.choice = *c
	switch c.Type {
	case "auto", "none":
	case "any":
		if len(r.tools) == 0 {
			return invalid("tool_choice: tool_choice.type 'any' requires at least one tool in tools")
		}
	case "tool":
		for _, t := range r.tools {
			if t.Name == c.Name {
				return nil
			}
		}
		return invalid("tool_choice: Tool '%s' not found in provided tools", c.Name)
	default:
		return invalid("tool_choice: Input tag '%s' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'", c.Type)
	}
	return nil
}
