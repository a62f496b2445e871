package openai

import (
	"bytes"
	"encoding/json"
	"testing"
)

var usageSeeds = []string{
	`{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}`,
	`{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}} trailing`,
	`{"input_tokens":3,"output_tokens":4}`,
	`{"prompt_tokens":9,"prompt_tokens_details":{"cached_tokens":4,"audio_tokens":1},"completion_tokens_details":{"reasoning_tokens":7,"audio_tokens":2}}`,
	`{"input_tokens":9,"input_tokens_details":{"cached_tokens":3},"output_tokens_details":{"reasoning_tokens":5}}`,
	`{"prompt_tokens_details":{"cached_tokens":1},"prompt_tokens_details":{"audio_tokens":2},"Prompt_Tokens_Details":null,"prompt_tokens_details":{"Cached_Tokens":3}}`,
	`{"prompt_tokens_details":{"cached_tokens":1.5}}`,
	`{"prompt_tokens_details":7}`,
	`{"prompt_tokens_details":{"cached\u005ftokens":2}}`,
	`{ "Prompt_Tokens" : 1 , "TOTAL_TOKENS":null, "total_tokens": 9}`,
	`{"prompt_tokens":1.5}`,
	`{"prompt_tokens":"1"}`,
	`{"prompt_tokens":99999999999999999999}`,
	`{"prompt\u005ftokens":7}`,
	`{"prompt_tokens":-0,"x":[1,{"y":"}"}]}`,
	`{}`,
	`{"prompt_tokens":1`,
	`[1]`,
}

// TestUsageJSONMatchesDecoder and FuzzUsageJSON hold the hand-written
// usage decoder to encoding/json's on the same bytes.
func TestUsageJSONMatchesDecoder(t *testing.T) {
	for _, s := range usageSeeds {
		checkUsageJSON(t, []byte(s))
	}
	b := []byte(usageSeeds[1])
	if n := testing.AllocsPerRun(100, func() { UsageJSON(b) }); n > 0 {
		t.Errorf("UsageJSON allocates %v times on the common shape", n)
	}
}

func FuzzUsageJSON(f *testing.F) {
	for _, s := range usageSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkUsageJSON(t, []byte(s)) })
}

func checkUsageJSON(t *testing.T, b []byte) {
	t.Helper()
	want, wok := UsageObject(json.NewDecoder(bytes.NewReader(b)))
	got, gok := UsageJSON(b)
	if got != want || gok != wok {
		t.Fatalf("UsageJSON(%q) = %+v, %v; decoder %+v, %v", b, got, gok, want, wok)
	}
}
