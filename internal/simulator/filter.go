package simulator

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Content filter triggers. Azure's filter cannot be reproduced offline, so
// the simulator filters on purpose: a prompt that contains
// "moat:filter:prompt:<category>" is refused as Azure refuses a filtered
// prompt, and one that contains "moat:filter:completion:<category>" gets an
// answer cut off with finish_reason "content_filter". Categories: hate,
// self_harm, sexual, violence, and jailbreak (prompts only).
const (
	filterPromptTrigger     = "moat:filter:prompt:"
	filterCompletionTrigger = "moat:filter:completion:"
)

var filterCategories = []string{"hate", "jailbreak", "self_harm", "sexual", "violence"}

// msgPromptFiltered is Azure's message for a filtered prompt (§2.11).
const msgPromptFiltered = "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"

// filterTriggers finds the categories a request's text asks to filter, in
// the prompt and in the completion.
func filterTriggers(body []byte) (prompt, completion string) {
	find := func(trigger string) string {
		i := bytes.Index(body, []byte(trigger))
		if i < 0 {
			return ""
		}
		rest := string(body[i+len(trigger):])
		for _, c := range filterCategories {
			if strings.HasPrefix(rest, c) {
				return c
			}
		}
		return "violence"
	}
	return find(filterPromptTrigger), find(filterCompletionTrigger)
}

// promptFilteredError is Azure's 400 for a filtered prompt, byte for byte
// in the wire form (innererror, content_filter_result singular).
func promptFilteredError(category string) []byte {
	type result struct {
		Hate      severityResult `json:"hate"`
		Jailbreak detectedResult `json:"jailbreak"`
		SelfHarm  severityResult `json:"self_harm"`
		Sexual    severityResult `json:"sexual"`
		Violence  severityResult `json:"violence"`
	}
	r := result{Hate: safe(), SelfHarm: safe(), Sexual: safe(), Violence: safe()}
	hit := severityResult{Filtered: true, Severity: "medium"}
	switch category {
	case "hate":
		r.Hate = hit
	case "jailbreak":
		r.Jailbreak = detectedResult{Filtered: true, Detected: true}
	case "self_harm":
		r.SelfHarm = hit
	case "sexual":
		r.Sexual = hit
	default:
		r.Violence = hit
	}
	type inner struct {
		Code   string `json:"code"`
		Result result `json:"content_filter_result"`
	}
	type body struct {
		Message    string  `json:"message"`
		Type       *string `json:"type"`
		Param      string  `json:"param"`
		Code       string  `json:"code"`
		Status     int     `json:"status"`
		InnerError inner   `json:"innererror"`
	}
	b, _ := json.Marshal(struct {
		Error body `json:"error"`
	}{body{Message: msgPromptFiltered, Param: "prompt", Code: "content_filter", Status: 400,
		InnerError: inner{Code: "ResponsibleAIPolicyViolation", Result: r}}})
	return b
}

// filteredChoice is a choice's filter results with category filtered.
func filteredChoice(category string, complete bool) *choiceFilters {
	f := severityFilters()
	if complete {
		f = completeFilters()
	}
	hit := &severityResult{Filtered: true, Severity: "medium"}
	switch category {
	case "hate":
		f.Hate = hit
	case "self_harm":
		f.SelfHarm = hit
	case "sexual":
		f.Sexual = hit
	default:
		f.Violence = hit
	}
	return f
}

// filters is a complete answer's choice filter results.
func (a answer) filters() *choiceFilters {
	if a.filtered != "" {
		return filteredChoice(a.filtered, true)
	}
	return completeFilters()
}
