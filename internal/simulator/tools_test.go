package simulator

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const weatherTool = `{"type":"function","function":{"name":"get_weather","parameters":{
  "type":"object","additionalProperties":false,"required":["city","unit","days"],
  "properties":{"city":{"type":"string","minLength":2},"unit":{"type":"string","enum":["celsius","fahrenheit"]},
  "days":{"type":"integer","minimum":1,"maximum":7},"when":{"type":"string","format":"date"}}}}}`

const searchTool = `{"type":"function","function":{"name":"search_docs","parameters":{
  "type":"object","required":["query","filters"],"additionalProperties":false,
  "properties":{"query":{"type":"string"},"filters":{"type":"array","minItems":1,"maxItems":3,
  "items":{"$ref":"#/$defs/filter"}}},
  "$defs":{"filter":{"type":"object","required":["field","value"],"additionalProperties":false,
  "properties":{"field":{"type":"string","enum":["title","body"]},"value":{"type":["string","null"]},
  "score":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1}}}}}}}`

// compileSchema compiles a JSON Schema with an independent validator, so
// the simulator's generator is checked by code that shares none of it.
func compileSchema(t *testing.T, raw string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("mem://schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("mem://schema.json")
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return sch
}

func validateJSON(t *testing.T, sch *jsonschema.Schema, value string) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(value))
	if err != nil {
		t.Fatalf("not JSON: %v: %s", err, value)
	}
	if err := sch.Validate(v); err != nil {
		t.Fatalf("%s does not validate: %v", value, err)
	}
}

type toolAnswerWire struct {
	Choices []struct {
		FinishReason string `json:"finish_reason"`
		Message      struct {
			Content   *string `json:"content"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		Logprobs *struct {
			Content []tokenLogprob `json:"content"`
		} `json:"logprobs"`
	} `json:"choices"`
	Usage struct {
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

func chatJSON(t *testing.T, s *Server, body string) toolAnswerWire {
	t.Helper()
	rec := call(s, "POST", chatPath, body)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var out toolAnswerWire
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestToolCalls(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	tools := `[` + weatherTool + `,` + searchTool + `]`
	schemas := map[string]*jsonschema.Schema{}
	for _, raw := range []string{weatherTool, searchTool} {
		var d struct {
			Function struct {
				Name       string          `json:"name"`
				Parameters json.RawMessage `json:"parameters"`
			} `json:"function"`
		}
		_ = json.Unmarshal([]byte(raw), &d)
		schemas[d.Function.Name] = compileSchema(t, string(d.Function.Parameters))
	}
	user := func(text string) string { return `[{"role":"user","content":"` + text + `"}]` }
	tests := []struct {
		name     string
		messages string
		extra    string
		want     []string // tools called, in order; nil means a text answer
	}{
		{name: "mentioned", messages: user("What is the get_weather for Tokyo?"), want: []string{"get_weather"}},
		{name: "mentioned by words", messages: user("please search docs for limits"), want: []string{"search_docs"}},
		{name: "parallel", messages: user("get weather and search docs"), want: []string{"get_weather", "search_docs"}},
		{name: "not parallel", messages: user("get weather and search docs"), extra: `,"parallel_tool_calls":false`, want: []string{"get_weather"}},
		{name: "named", messages: user("anything"), extra: `,"tool_choice":{"type":"function","function":{"name":"search_docs"}}`, want: []string{"search_docs"}},
		{name: "none", messages: user("get weather"), extra: `,"tool_choice":"none"`},
		{name: "after tool results", messages: `[{"role":"user","content":"get weather"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"sunny"}]`},
		{name: "required after tool results", messages: `[{"role":"user","content":"get weather"},{"role":"tool","tool_call_id":"call_1","content":"sunny"}]`, extra: `,"tool_choice":"required"`, want: []string{"get_weather"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := chatJSON(t, s, `{"messages":`+tt.messages+`,"tools":`+tools+tt.extra+`}`)
			c := out.Choices[0]
			if tt.want == nil {
				if c.FinishReason != "stop" || c.Message.Content == nil || *c.Message.Content == "" || len(c.Message.ToolCalls) > 0 {
					t.Fatalf("want text: %+v", c)
				}
				return
			}
			if c.FinishReason != "tool_calls" || c.Message.Content != nil || len(c.Message.ToolCalls) != len(tt.want) {
				t.Fatalf("want calls %v: %+v", tt.want, c)
			}
			for i, tc := range c.Message.ToolCalls {
				if tc.Function.Name != tt.want[i] || tc.Type != "function" || !strings.HasPrefix(tc.ID, "call_") {
					t.Fatalf("call %d: %+v", i, tc)
				}
				validateJSON(t, schemas[tc.Function.Name], tc.Function.Arguments)
			}
			if out.Usage.CompletionTokens == 0 {
				t.Fatal("tool calls counted no completion tokens")
			}
		})
	}
}

// TestToolCallsStreamed: streamed tool calls reassemble, as SDK
// accumulators do, into the plain answer's calls.
func TestToolCallsStreamed(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	body := `{"messages":[{"role":"user","content":"get weather and search docs"}],"tools":[` + weatherTool + `,` + searchTool + `]`
	plain := chatJSON(t, s, body+`}`)
	rec := call(s, "POST", chatPath, body+`,"stream":true}`)
	type call struct{ id, name, args string }
	var calls []call
	finish := ""
	for _, ev := range strings.Split(rec.Body.String(), "\n\n") {
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content   *string `json:"content"`
					ToolCalls []struct {
						Index    int    `json:"index"`
						ID       string `json:"id"`
						Function struct {
							Name      string `json:"name"`
							Arguments string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatalf("%v: %s", err, data)
		}
		for _, ch := range chunk.Choices {
			for _, d := range ch.Delta.ToolCalls {
				for len(calls) <= d.Index {
					calls = append(calls, call{})
				}
				c := &calls[d.Index]
				c.id += d.ID
				c.name += d.Function.Name
				c.args += d.Function.Arguments
			}
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
	}
	if finish != "tool_calls" || len(calls) != len(plain.Choices[0].Message.ToolCalls) {
		t.Fatalf("finish %q, %d calls (plain %d)\n%s", finish, len(calls), len(plain.Choices[0].Message.ToolCalls), rec.Body)
	}
	for i, c := range calls {
		p := plain.Choices[0].Message.ToolCalls[i]
		if c.name != p.Function.Name || c.args != p.Function.Arguments {
			t.Errorf("call %d streamed %+v, plain %+v", i, c, p)
		}
	}
}

func TestStructuredOutput(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	schema := `{"type":"object","additionalProperties":false,"required":["title","tags","rating","author","published"],
	  "properties":{"title":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}},
	  "rating":{"type":"number","minimum":0,"maximum":5},"published":{"type":"string","format":"date-time"},
	  "author":{"anyOf":[{"type":"null"},{"$ref":"#/$defs/person"}]}},
	  "$defs":{"person":{"type":"object","additionalProperties":false,"required":["name","email"],
	  "properties":{"name":{"type":"string"},"email":{"type":"string","format":"email"},"id":{"type":"string","format":"uuid"}}}}}`
	sch := compileSchema(t, schema)
	for seed := range 20 {
		out := chatJSON(t, s, `{"messages":[{"role":"user","content":"review `+strings.Repeat("x", seed)+`"}],
		  "response_format":{"type":"json_schema","json_schema":{"name":"review","strict":true,"schema":`+schema+`}}}`)
		if out.Choices[0].FinishReason != "stop" || out.Choices[0].Message.Content == nil {
			t.Fatalf("%+v", out.Choices[0])
		}
		validateJSON(t, sch, *out.Choices[0].Message.Content)
	}
	out := chatJSON(t, s, `{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}`)
	var obj map[string]any
	if err := json.Unmarshal([]byte(*out.Choices[0].Message.Content), &obj); err != nil || obj["answer"] == "" {
		t.Fatalf("json_object answer %q: %v", *out.Choices[0].Message.Content, err)
	}
	// A recursive schema ends.
	tree := `{"type":"object","required":["name","children"],"additionalProperties":false,
	  "properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#"}}}}`
	out = chatJSON(t, s, `{"messages":[{"role":"user","content":"tree"}],"response_format":{"type":"json_schema","json_schema":{"name":"t","schema":`+tree+`}}}`)
	validateJSON(t, compileSchema(t, tree), *out.Choices[0].Message.Content)
}

func TestShapingOptions(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	t.Run("logprobs", func(t *testing.T) {
		out := chatJSON(t, s, `{"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":3,"max_tokens":5}`)
		lp := out.Choices[0].Logprobs
		if lp == nil || len(lp.Content) != 5 {
			t.Fatalf("logprobs %+v", lp)
		}
		var text string
		for _, e := range lp.Content {
			text += e.Token
			if e.Logprob > 0 || len(e.TopLogprobs) != 3 || e.TopLogprobs[0].Token != e.Token || string(intBytes(e.Bytes)) != e.Token {
				t.Fatalf("entry %+v", e)
			}
			for i := 1; i < len(e.TopLogprobs); i++ {
				if e.TopLogprobs[i].Logprob > e.TopLogprobs[i-1].Logprob {
					t.Fatalf("top logprobs not descending: %+v", e.TopLogprobs)
				}
			}
		}
		if text != *out.Choices[0].Message.Content {
			t.Fatalf("tokens %q, content %q", text, *out.Choices[0].Message.Content)
		}
	})
	t.Run("stop", func(t *testing.T) {
		full := *chatJSON(t, s, `{"messages":[{"role":"user","content":"stop test"}]}`).Choices[0].Message.Content
		words := strings.Fields(full)
		stop := " " + words[3]
		cut := chatJSON(t, s, `{"messages":[{"role":"user","content":"stop test"}],"stop":["zzz","`+stop+`"]}`)
		want := full[:strings.Index(full, stop)]
		if got := *cut.Choices[0].Message.Content; got != want || cut.Choices[0].FinishReason != "stop" {
			t.Fatalf("stop %q: got %q, want %q", stop, got, want)
		}
	})
	t.Run("seed", func(t *testing.T) {
		body := func(seed int) string {
			return `{"messages":[{"role":"user","content":"seeded"}],"seed":` + strings.Repeat("1", seed) + `}`
		}
		a, b, c := chatJSON(t, s, body(3)), chatJSON(t, s, body(3)), chatJSON(t, s, body(4))
		if *a.Choices[0].Message.Content != *b.Choices[0].Message.Content {
			t.Fatal("same seed, different answers")
		}
		if *a.Choices[0].Message.Content == *c.Choices[0].Message.Content {
			t.Fatal("another seed, same answer")
		}
	})
}

func intBytes(b []int) []byte {
	out := make([]byte, len(b))
	for i, v := range b {
		out[i] = byte(v)
	}
	return out
}

func TestShapingErrors(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, body, param string
	}{
		{"tool_choice without tools", `{` + msgs + `,"tool_choice":"auto"}`, "tool_choice"},
		{"unknown named tool", `{` + msgs + `,"tools":[` + weatherTool + `],"tool_choice":{"type":"function","function":{"name":"nope"}}}`, "tool_choice"},
		{"bad tool_choice", `{` + msgs + `,"tools":[` + weatherTool + `],"tool_choice":"sometimes"}`, "tool_choice"},
		{"tool without name", `{` + msgs + `,"tools":[{"type":"function","function":{}}]}`, "tools[0].function.name"},
		{"top_logprobs without logprobs", `{` + msgs + `,"top_logprobs":2}`, "top_logprobs"},
		{"top_logprobs too many", `{` + msgs + `,"logprobs":true,"top_logprobs":21}`, "top_logprobs"},
		{"json_schema without schema", `{` + msgs + `,"response_format":{"type":"json_schema"}}`, "response_format.json_schema"},
		{"bad response_format", `{` + msgs + `,"response_format":{"type":"yaml"}}`, "response_format.type"},
		{"five stops", `{` + msgs + `,"stop":["a","b","c","d","e"]}`, "stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := call(s, "POST", chatPath, tt.body)
			var e struct {
				Error struct {
					Message string  `json:"message"`
					Param   *string `json:"param"`
				} `json:"error"`
			}
			if rec.Code != 400 || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error.Param == nil || *e.Error.Param != tt.param {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		})
	}
}
