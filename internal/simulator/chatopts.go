package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// chatOptions are the request fields that shape an answer beyond its text:
// tools, structured output, logprobs, stop sequences and the seed. Chat
// reads them all; completions reads stop and seed.
type chatOptions struct {
	tools        []toolDef
	choice       toolChoice
	parallel     bool
	format       string // "", "text", "json_object", "json_schema"
	schema       any    // the json_schema's schema, decoded
	logprobs     bool
	topLogprobs  int
	stop         []string
	seed         *int64
	lastRole     string // role of the last message: "tool" means results came back
	lastUserText string // the last user message's text, lower-cased
}

type toolDef struct {
	Type     string `json:"type"`
	Function struct {
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
		Strict     bool            `json:"strict"`
	} `json:"function"`
	params any // Parameters, decoded
}

// toolChoice is tool_choice: none, auto, required, or one named function.
type toolChoice struct {
	mode string // "none", "auto", "required", "named"
	name string
}

// chatWire is what parseChatOptions decodes; unknown members are the
// model's business and ignored, as the model ignores what it does not use.
type chatWire struct {
	Tools             []toolDef       `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls"`
	ResponseFormat    *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict bool            `json:"strict"`
		} `json:"json_schema"`
	} `json:"response_format"`
	Logprobs    json.RawMessage `json:"logprobs"`
	TopLogprobs *int            `json:"top_logprobs"`
	Stop        json.RawMessage `json:"stop"`
	Seed        *int64          `json:"seed"`
	Messages    []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

// maxTopLogprobs and maxStop are OpenAI's bounds.
const (
	maxTopLogprobs = 20
	maxStop        = 4
)

// parseChatOptions reads and validates the shaping fields of a chat (chat
// true) or completions body. bad is a 400 body in OpenAI's shape.
func parseChatOptions(body []byte, chat bool) (o chatOptions, bad []byte) {
	var w chatWire
	if chat {
		if err := json.Unmarshal(body, &w); err != nil {
			return o, modelError("Invalid request: "+jsonProblem(err), "invalid_request_error", "", "")
		}
	} else {
		var c struct {
			Stop json.RawMessage `json:"stop"`
			Seed *int64          `json:"seed"`
		}
		if err := json.Unmarshal(body, &c); err != nil {
			return o, modelError("Invalid request: "+jsonProblem(err), "invalid_request_error", "", "")
		}
		w.Stop, w.Seed = c.Stop, c.Seed
	}
	o.seed = w.Seed
	if o.stop, bad = parseStop(w.Stop); bad != nil {
		return o, bad
	}
	if !chat {
		return o, nil
	}
	if len(w.Messages) > 0 {
		last := w.Messages[len(w.Messages)-1]
		o.lastRole = last.Role
		for i := len(w.Messages) - 1; i >= 0; i-- {
			if w.Messages[i].Role == "user" {
				o.lastUserText = strings.ToLower(messageText(w.Messages[i].Content))
				break
			}
		}
	}
	for i := range w.Tools {
		t := &w.Tools[i]
		if t.Type != "function" {
			return o, modelError(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'function'.", t.Type),
				"invalid_request_error", fmt.Sprintf("tools[%d].type", i), "invalid_value")
		}
		if t.Function.Name == "" {
			return o, modelError(fmt.Sprintf("Missing required parameter: 'tools[%d].function.name'.", i),
				"invalid_request_error", fmt.Sprintf("tools[%d].function.name", i), "missing_required_parameter")
		}
		if len(t.Function.Parameters) > 0 && json.Unmarshal(t.Function.Parameters, &t.params) != nil {
			return o, modelError(fmt.Sprintf("Invalid schema for function '%s'.", t.Function.Name),
				"invalid_request_error", fmt.Sprintf("tools[%d].function.parameters", i), "invalid_function_parameters")
		}
		if t.params == nil {
			t.params = map[string]any{"type": "object", "properties": map[string]any{}}
		}
	}
	o.tools = w.Tools
	if o.choice, bad = parseToolChoice(w.ToolChoice, o.tools); bad != nil {
		return o, bad
	}
	o.parallel = w.ParallelToolCalls == nil || *w.ParallelToolCalls
	if f := w.ResponseFormat; f != nil {
		switch f.Type {
		case "text", "json_object":
			o.format = f.Type
		case "json_schema":
			if f.JSONSchema == nil || len(f.JSONSchema.Schema) == 0 {
				return o, modelError("Missing required parameter: 'response_format.json_schema'.",
					"invalid_request_error", "response_format.json_schema", "missing_required_parameter")
			}
			if json.Unmarshal(f.JSONSchema.Schema, &o.schema) != nil {
				return o, modelError("Invalid schema for response_format.", "invalid_request_error",
					"response_format.json_schema.schema", "invalid_json_schema")
			}
			o.format = f.Type
		default:
			return o, modelError(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'json_object', 'json_schema', and 'text'.", f.Type),
				"invalid_request_error", "response_format.type", "invalid_value")
		}
	}
	switch lp := string(bytes.TrimSpace(w.Logprobs)); lp {
	case "", "null", "false":
	case "true":
		o.logprobs = true
	default:
		return o, modelError("Invalid type for 'logprobs': expected a boolean.", "invalid_request_error", "logprobs", "invalid_type")
	}
	if w.TopLogprobs != nil {
		switch n := *w.TopLogprobs; {
		case n < 0:
			return o, belowMin("top_logprobs", 0, n)
		case n > maxTopLogprobs:
			return o, aboveMax("top_logprobs", maxTopLogprobs, n)
		case !o.logprobs:
			return o, modelError("Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.",
				"invalid_request_error", "top_logprobs", "invalid_value")
		}
		o.topLogprobs = *w.TopLogprobs
	}
	return o, nil
}

// parseToolChoice reads tool_choice against the declared tools.
func parseToolChoice(raw json.RawMessage, tools []toolDef) (toolChoice, []byte) {
	raw = bytes.TrimSpace(raw)
	c := toolChoice{mode: "auto"}
	if len(tools) == 0 {
		c.mode = "none"
	}
	if len(raw) == 0 || string(raw) == "null" {
		return c, nil
	}
	if len(tools) == 0 {
		return c, modelError("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
			"invalid_request_error", "tool_choice", "")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "none", "auto", "required":
			return toolChoice{mode: s}, nil
		}
		return c, modelError(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'none', 'auto', and 'required'.", s),
			"invalid_request_error", "tool_choice", "invalid_value")
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &named) != nil || named.Type != "function" || named.Function.Name == "" {
		return c, modelError("Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a function.",
			"invalid_request_error", "tool_choice", "invalid_value")
	}
	for _, t := range tools {
		if t.Function.Name == named.Function.Name {
			return toolChoice{mode: "named", name: named.Function.Name}, nil
		}
	}
	return c, modelError(fmt.Sprintf("Invalid value for 'tool_choice': function '%s' is not one of the declared tools.", named.Function.Name),
		"invalid_request_error", "tool_choice", "invalid_value")
}

// parseStop reads stop: a string or up to four strings.
func parseStop(raw json.RawMessage) ([]string, []byte) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return nil, modelError("Invalid type for 'stop': expected a string or an array of strings.", "invalid_request_error", "stop", "invalid_type")
	}
	if len(many) > maxStop {
		return nil, modelError(fmt.Sprintf("Invalid 'stop': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", maxStop, len(many)),
			"invalid_request_error", "stop", "array_above_max_length")
	}
	out := many[:0]
	for _, s := range many {
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// messageText is a message's content as text: the string, or the text
// parts of an array of content parts.
func messageText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
		b.WriteByte(' ')
	}
	return b.String()
}

// jsonProblem names a decode error without Go's type names.
func jsonProblem(err error) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
		return fmt.Sprintf("'%s' has the wrong type.", te.Field)
	}
	return "the body does not match the expected shape."
}

// callsTools decides which tools an answer calls, the way an agent
// developer can steer a simulated model: a named tool_choice calls that
// tool; after tool results (the last message is a tool message) an auto
// choice answers in text; otherwise the tools whose names the last user
// message mentions are called (all of them when parallel calls are
// allowed, else the first), or, when none is mentioned, one drawn from the
// seed. "none" and no tools answer in text.
func (o chatOptions) callsTools(pick func(n int) int) []toolDef {
	switch o.choice.mode {
	case "none":
		return nil
	case "named":
		for _, t := range o.tools {
			if t.Function.Name == o.choice.name {
				return []toolDef{t}
			}
		}
		return nil
	case "auto":
		if o.lastRole == "tool" {
			return nil
		}
	}
	var mentioned []toolDef
	for _, t := range o.tools {
		name := strings.ToLower(t.Function.Name)
		if strings.Contains(o.lastUserText, name) || strings.Contains(o.lastUserText, strings.ReplaceAll(name, "_", " ")) {
			mentioned = append(mentioned, t)
		}
	}
	if len(mentioned) == 0 {
		return []toolDef{o.tools[pick(len(o.tools))]}
	}
	if !o.parallel {
		return mentioned[:1]
	}
	return mentioned
}
