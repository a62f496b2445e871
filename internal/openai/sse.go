package openai

import (
	"bytes"
	"encoding/json"
)

// SplitEvent finds the end of the first complete server-sent event in buf.
// It returns the length of the event including its blank-line terminator,
// or -1 when buf holds no complete event yet. Both \n\n and \r\n\r\n
// terminators are accepted.
//
// It walks buf line by line, so an event is found in one pass however many
// events follow it.
func SplitEvent(buf []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return -1
		}
		j += i
		switch {
		case j+1 < len(buf) && buf[j+1] == '\n': // \n\n
			return j + 2
		case j > 0 && buf[j-1] == '\r' && j+2 < len(buf) && buf[j+1] == '\r' && buf[j+2] == '\n': // \r\n\r\n
			return j + 3
		}
		i = j + 1
	}
}

// EventData returns the concatenated data: lines of one event, and the
// event: name if present.
func EventData(ev []byte) (name string, data []byte) {
	var parts [][]byte
	for _, line := range bytes.Split(ev, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case bytes.HasPrefix(line, []byte("data:")):
			parts = append(parts, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" ")))
		case bytes.HasPrefix(line, []byte("event:")):
			name = string(bytes.TrimSpace(bytes.TrimPrefix(line, []byte("event:"))))
		}
	}
	return name, bytes.Join(parts, []byte("\n"))
}

// StreamChunk is what the gateway reads from one streamed JSON chunk.
type StreamChunk struct {
	// Usage is set when the chunk carries a non-null usage object.
	Usage *Usage
	// UsageOnly is true for the include_usage trailer: empty choices plus usage.
	UsageOnly bool
	// Text is the generated text carried by the chunk's deltas.
	Text string
	// Done is true for the [DONE] sentinel.
	Done bool
}

// ParseStreamChunk reads one event's data. Unknown shapes yield an empty chunk.
func ParseStreamChunk(name string, data []byte) StreamChunk {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, []byte("[DONE]")) {
		return StreamChunk{Done: true}
	}
	var c struct {
		Choices *[]struct {
			Text  string `json:"text"`
			Delta struct {
				Content   *string `json:"content"`
				Refusal   *string `json:"refusal"`
				ToolCalls []struct {
					Function struct {
						Arguments string `json:"arguments"`
					} `json:"function"`
				} `json:"tool_calls"`
			} `json:"delta"`
		} `json:"choices"`
		Usage *usageWire `json:"usage"`
		// Responses API events.
		Type     string `json:"type"`
		Delta    string `json:"delta"`
		Response *struct {
			Usage *usageWire `json:"usage"`
		} `json:"response"`
	}
	if json.Unmarshal(data, &c) != nil {
		return StreamChunk{}
	}
	var out StreamChunk
	if c.Usage != nil {
		if u, ok := c.Usage.usage(); ok {
			out.Usage = &u
		}
	}
	if c.Response != nil && c.Response.Usage != nil && (c.Type == "response.completed" || name == "response.completed") {
		if u, ok := c.Response.Usage.usage(); ok {
			out.Usage = &u
		}
	}
	if c.Choices != nil {
		var b []byte
		for _, ch := range *c.Choices {
			b = append(b, ch.Text...)
			if ch.Delta.Content != nil {
				b = append(b, *ch.Delta.Content...)
			}
			if ch.Delta.Refusal != nil {
				b = append(b, *ch.Delta.Refusal...)
			}
			for _, tc := range ch.Delta.ToolCalls {
				b = append(b, tc.Function.Arguments...)
			}
		}
		out.Text = string(b)
		out.UsageOnly = len(*c.Choices) == 0 && out.Usage != nil
	}
	if c.Type == "response.output_text.delta" {
		out.Text = c.Delta
	}
	return out
}

// StreamUsage returns what ParseStreamChunk(name, data) says of usage: its
// Usage and UsageOnly. The usage-only trailer of a chat or completions
// stream ({"choices":[], ..., "usage":{...}}), read once per stream, is
// walked without reflection; any other shape goes to ParseStreamChunk
// (FuzzStreamUsage keeps the two in agreement).
func StreamUsage(name string, data []byte) (*Usage, bool) {
	if u, ok := usageTrailer(data); ok {
		return u, true
	}
	c := ParseStreamChunk(name, data)
	return c.Usage, c.UsageOnly
}

// usageTrailer reads the usage-only trailer: a valid object whose members
// include choices, exactly [], and usage, an object with usage, each once,
// and none of the other members ParseStreamChunk decodes. ok is false for
// anything else.
func usageTrailer(data []byte) (*Usage, bool) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' || !validJSON(data) {
		return nil, false
	}
	var usage []byte
	choices := 0
	for m := range objectMembers(data, 0) {
		key := m.name
		if bytes.IndexByte(key, '\\') >= 0 {
			return nil, false
		}
		// Member names match as encoding/json matches them.
		switch val := data[m.start:m.end]; {
		case bytes.EqualFold(key, []byte("usage")):
			if usage != nil || val[0] != '{' {
				return nil, false // repeated objects merge; null clears
			}
			usage = val
		case bytes.EqualFold(key, []byte("choices")):
			if choices++; choices > 1 || val[0] != '[' || skipSpace(val, 1) != len(val)-1 {
				return nil, false
			}
		case bytes.EqualFold(key, []byte("type")), bytes.EqualFold(key, []byte("delta")), bytes.EqualFold(key, []byte("response")):
			return nil, false
		}
	}
	if choices != 1 || usage == nil {
		return nil, false
	}
	u, ok := UsageJSON(usage)
	if !ok {
		return nil, false
	}
	return &u, true
}
