package openai

import (
	"encoding/json"
	"maps"
	"testing"
)

func TestSetMember(t *testing.T) {
	tests := []struct {
		name, in, member, val, want string
	}{
		{"replace", `{"model":"a","messages":[]}`, "model", `"b"`, `{"model":"b","messages":[]}`},
		{"replace keeps spacing", "{ \"messages\": [ ],\n  \"model\" : \"a\" }", "model", `"b"`, "{ \"messages\": [ ],\n  \"model\" : \"b\" }"},
		{"insert", `{"messages":[]}`, "model", `"b"`, `{"model":"b","messages":[]}`},
		{"insert into empty", `{}`, "model", `"b"`, `{"model":"b"}`},
		{"insert into spaced empty", ` { } `, "model", `"b"`, ` {"model":"b" } `},
		{"nested name untouched", `{"x":{"model":"a"}}`, "model", `"b"`, `{"model":"b","x":{"model":"a"}}`},
		{"escaped key", `{"mod\u0065l":"a"}`, "model", `"b"`, `{"mod\u0065l":"b"}`},
		{"name inside a string", `{"p":"\"model\":1","model":2}`, "model", `3`, `{"p":"\"model\":1","model":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetMember([]byte(tt.in), tt.member, []byte(tt.val))
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s (%v), want %s", got, err, tt.want)
			}
		})
	}
	if _, err := SetMember([]byte(`[1]`), "model", []byte(`1`)); err == nil {
		t.Fatal("an array was spliced")
	}
}

func TestWithUsageRequestedKeepsBytes(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"stream":true,"messages":[]}`, `{"stream_options":{"include_usage":true},"stream":true,"messages":[]}`},
		{`{"stream":true,"stream_options":null}`, `{"stream":true,"stream_options":{"include_usage":true}}`},
		{`{"stream_options":{"include_usage":false,"x":1}}`, `{"stream_options":{"include_usage":true,"x":1}}`},
		{`{"stream_options":{"x":1}}`, `{"stream_options":{"include_usage":true,"x":1}}`},
	}
	for _, tt := range tests {
		got, err := WithUsageRequested([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: got %s (%v), want %s", tt.in, got, err, tt.want)
		}
	}
	if _, err := WithUsageRequested([]byte(`{"stream_options":3}`)); err == nil {
		t.Error("a non-object stream_options was accepted")
	}
}

// FuzzSetMember: for any object ParseRequest accepts, splicing a member
// yields JSON that decodes to the original object with that member set.
func FuzzSetMember(f *testing.F) {
	for _, s := range []string{`{}`, `{"model":"a"}`, `{"messages":[{"role":"user","content":"hi"}],"n":2}`,
		" {\"a\" : [1, {\"model\":2}] , \"model\":null } ", `{"\u006dodel":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if _, err := ParseRequest([]byte(in)); err != nil {
			return
		}
		var before map[string]json.RawMessage
		if json.Unmarshal([]byte(in), &before) != nil || hasDuplicateKeys([]byte(in)) {
			return
		}
		out, err := SetMember([]byte(in), "model", []byte(`"spliced"`))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		var after map[string]json.RawMessage
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("%q -> %q: %v", in, out, err)
		}
		before["model"] = json.RawMessage(`"spliced"`)
		if len(after) != len(before) || string(after["model"]) != `"spliced"` {
			t.Fatalf("%q -> %q", in, out)
		}
		for k := range maps.Keys(before) {
			if k != "model" && string(compact(before[k])) != string(compact(after[k])) {
				t.Fatalf("%q -> %q: member %q changed", in, out, k)
			}
		}
	})
}

func compact(b []byte) []byte {
	var v any
	_ = json.Unmarshal(b, &v)
	out, _ := json.Marshal(v)
	return out
}

// hasDuplicateKeys reports a repeated top-level name (exactly as written,
// after unescaping), which encoding/json would merge.
func hasDuplicateKeys(obj []byte) bool {
	seen := map[string]bool{}
	dup := false
	start := skipSpace(obj, 0)
	i := start + 1
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] == '}' {
			return dup
		}
		if obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
		end := skipString(obj, i)
		k := unescapeKey(obj[i+1 : end-1])
		dup = dup || seen[k]
		seen[k] = true
		i = skipSpace(obj, end)
		i = skipValue(obj, skipSpace(obj, i+1))
	}
}

// BenchmarkWithUsageRequested: splicing include_usage into a 16 KiB chat
// body, against decoding and re-encoding it as moat did before.
func BenchmarkWithUsageRequested(b *testing.B) {
	msg := `{"role":"user","content":"Tell me about private endpoints and DNS zones in a closed network."}`
	body := []byte(`{"model":"gpt-4o-mini","stream":true,"temperature":0.2,"messages":[`)
	for len(body) < 16<<10 {
		body = append(body, msg...)
		body = append(body, ',')
	}
	body = append(body[:len(body)-1], "]}"...)
	b.Run("splice", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := WithUsageRequested(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reencode", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(body, &obj); err != nil {
				b.Fatal(err)
			}
			obj["stream_options"] = json.RawMessage(`{"include_usage":true}`)
			if _, err := json.Marshal(obj); err != nil {
				b.Fatal(err)
			}
		}
	})
}
