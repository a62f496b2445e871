package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// upload sends a multipart file upload and returns the recording.
func upload(s http.Handler, path, purpose, content string) (int, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("purpose", purpose)
	fw, _ := mw.CreateFormFile("file", "in.jsonl")
	_, _ = fw.Write([]byte(content))
	_ = mw.Close()
	rec := call(s, "POST", path, b.String(), "Content-Type", mw.FormDataContentType())
	return rec.Code, rec.Body.String()
}

const batchInput = `{"custom_id":"a","method":"POST","url":"/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"max_tokens":8}}
{"custom_id":"b","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Bye"}]}}
{"custom_id":"c","method":"POST","url":"/chat/completions","body":{"model":"missing","messages":[{"role":"user","content":"?"}]}}
`

func TestFilesValidated(t *testing.T) {
	s := newServer(t, testOptions(newClock()))
	tests := []struct {
		name, purpose, content string
		status                 int
		want                   string
	}{
		{"batch file", "batch", batchInput, 200, `"purpose":"batch"`},
		{"other purpose", "fine-tune", batchInput, 400, "purpose"},
		{"not json", "batch", "{\n", 400, "Line 1"},
		{"duplicate id", "batch", strings.Repeat(`{"custom_id":"a","method":"POST","url":"/embeddings","body":{"model":"m"}}`+"\n", 2), 400, "Line 2"},
		{"bad url", "batch", `{"custom_id":"a","method":"POST","url":"/images/generations","body":{"model":"m"}}`, 400, "not supported"},
		{"stream", "batch", `{"custom_id":"a","method":"POST","url":"/chat/completions","body":{"model":"m","stream":true}}`, 400, "streaming"},
		{"empty", "batch", "\n", 400, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := upload(s, "/openai/v1/files", tt.purpose, tt.content)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("%d %s", status, body)
			}
		})
	}
}

// TestBatchRuns: a batch goes validating → in_progress → finalizing →
// completed, answering each line with the live handler; failures go to
// the error file and request_counts add up.
func TestBatchRuns(t *testing.T) {
	o := testOptions(newClock())
	o.Sleep = func(ctx context.Context, d time.Duration) error { time.Sleep(d); return ctx.Err() }
	o.BatchTime = 300 * time.Millisecond
	o.Latency = Latency{}
	s := newServer(t, o)
	status, body := upload(s, "/openai/files?api-version=2025-04-01-preview", "batch", batchInput)
	if status != 200 {
		t.Fatal(status, body)
	}
	var f fileObject
	_ = json.Unmarshal([]byte(body), &f)
	rec := call(s, "POST", "/v1/batches", `{"input_file_id":"`+f.ID+`","endpoint":"/chat/completions","completion_window":"24h"}`)
	var b batchObject
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || rec.Code != 200 || b.Status != "validating" {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	seen := map[string]bool{}
	for deadline := time.Now().Add(5 * time.Second); b.Status != "completed"; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("batch stuck: %+v", b)
		}
		rec = call(s, "GET", "/openai/batches/"+b.ID+"?api-version=2025-04-01-preview", "")
		_ = json.Unmarshal(rec.Body.Bytes(), &b)
		seen[b.Status] = true
	}
	if !seen["in_progress"] || !seen["finalizing"] || b.RequestCounts != (requestCounts{Total: 3, Completed: 2, Failed: 1}) ||
		b.OutputFileID == nil || b.ErrorFileID == nil || b.CompletedAt == nil {
		t.Fatalf("completed batch: %+v (states %v)", b, seen)
	}
	out := call(s, "GET", "/openai/v1/files/"+*b.OutputFileID+"/content", "").Body.String()
	if n := strings.Count(out, "\n"); n != 2 || !strings.Contains(out, `"custom_id":"a"`) || !strings.Contains(out, `"object":"chat.completion"`) ||
		!strings.Contains(out, `"status_code":200`) {
		t.Fatalf("output: %s", out)
	}
	errs := call(s, "GET", "/openai/v1/files/"+*b.ErrorFileID+"/content", "").Body.String()
	if !strings.Contains(errs, `"custom_id":"c"`) || !strings.Contains(errs, "DeploymentNotFound") {
		t.Fatalf("errors: %s", errs)
	}
	if rec := call(s, "POST", "/openai/v1/batches/"+b.ID+"/cancel", ""); rec.Code != http.StatusConflict {
		t.Errorf("cancel completed: %d", rec.Code)
	}
	if rec := call(s, "GET", "/openai/v1/batches", ""); !strings.Contains(rec.Body.String(), b.ID) {
		t.Errorf("list: %s", rec.Body)
	}
	if rec := call(s, "DELETE", "/openai/v1/files/"+f.ID, ""); rec.Code != 200 {
		t.Errorf("delete: %d", rec.Code)
	}
	if rec := call(s, "GET", "/openai/v1/files/"+f.ID, ""); rec.Code != 404 {
		t.Errorf("deleted file: %d", rec.Code)
	}
}

func TestBatchCancel(t *testing.T) {
	o := testOptions(newClock())
	o.Sleep = func(ctx context.Context, d time.Duration) error { <-ctx.Done(); return ctx.Err() } // never finishes by itself
	s := newServer(t, o)
	_, body := upload(s, "/openai/v1/files", "batch", batchInput)
	var f fileObject
	_ = json.Unmarshal([]byte(body), &f)
	var b batchObject
	_ = json.Unmarshal(call(s, "POST", "/openai/v1/batches", `{"input_file_id":"`+f.ID+`","endpoint":"/chat/completions"}`).Body.Bytes(), &b)
	rec := call(s, "POST", "/openai/v1/batches/"+b.ID+"/cancel", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"cancel`) {
		t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(call(s, "GET", "/openai/v1/batches/"+b.ID, "").Body.String(), `"cancelled"`); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("never cancelled")
		}
	}
}
