package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/moat-gw/moat/internal/openai"
)

// DefaultBatchTime is how long a batch takes from validating to completed
// when Options.BatchTime is unset: each of validating, in_progress and
// finalizing lasts a third of it.
const DefaultBatchTime = 3 * time.Second

// batchObject is the Batch API's batch, as Azure answers it.
type batchObject struct {
	ID               string            `json:"id"`
	Object           string            `json:"object"`
	Endpoint         string            `json:"endpoint"`
	Errors           json.RawMessage   `json:"errors"`
	InputFileID      string            `json:"input_file_id"`
	CompletionWindow string            `json:"completion_window"`
	Status           string            `json:"status"`
	OutputFileID     *string           `json:"output_file_id"`
	ErrorFileID      *string           `json:"error_file_id"`
	CreatedAt        int64             `json:"created_at"`
	InProgressAt     *int64            `json:"in_progress_at"`
	ExpiresAt        int64             `json:"expires_at"`
	FinalizingAt     *int64            `json:"finalizing_at"`
	CompletedAt      *int64            `json:"completed_at"`
	FailedAt         *int64            `json:"failed_at"`
	ExpiredAt        *int64            `json:"expired_at"`
	CancellingAt     *int64            `json:"cancelling_at"`
	CancelledAt      *int64            `json:"cancelled_at"`
	RequestCounts    requestCounts     `json:"request_counts"`
	Metadata         map[string]string `json:"metadata"`
}

type requestCounts struct {
	Total     int `json:"total"`
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
}

type storedBatch struct {
	obj    batchObject
	cancel context.CancelFunc
}

// batchStore keeps batches; a runner goroutine moves each through its states.
type batchStore struct{ idStore[storedBatch] }

func (st *batchStore) put(b *storedBatch) { st.idStore.put(b.obj.ID, b, maxStoredFiles) }

func (st *batchStore) snapshot(id string) (obj batchObject, b *storedBatch, ok bool) {
	if b, ok = st.get(id); ok {
		st.locked(func() { obj = b.obj })
	}
	return obj, b, ok
}

func (st *batchStore) update(b *storedBatch, f func(*batchObject)) { st.locked(func() { f(&b.obj) }) }

func (st *batchStore) list() []batchObject {
	return newestFirst(&st.idStore, func(b *storedBatch) batchObject { return b.obj })
}

// serveBatches answers the Batch API: create, list, retrieve, cancel.
func (s *Server) serveBatches(w http.ResponseWriter, r *http.Request, rt route) {
	switch {
	case rt.objectID == "" && r.Method == http.MethodPost:
		s.createBatch(w, r)
		return
	case rt.objectID == "":
		writeList(w, r, s.batches.list(), func(b batchObject) string { return b.ID }, 20, 100)
		return
	}
	obj, b, ok := s.batches.snapshot(rt.objectID)
	if !ok {
		writeJSON(w, http.StatusNotFound, modelError(fmt.Sprintf("Batch with id '%s' not found.", rt.objectID), "invalid_request_error", "", ""))
		return
	}
	if rt.objectAction == "cancel" {
		switch obj.Status {
		case "completed", "failed", "expired", "cancelled":
			writeJSON(w, http.StatusConflict, modelError(fmt.Sprintf("Cannot cancel a batch with status '%s'.", obj.Status), "invalid_request_error", "", ""))
			return
		}
		now := s.opts.Now().Unix()
		s.batches.update(b, func(o *batchObject) { o.Status, o.CancellingAt = "cancelling", &now })
		b.cancel()
		obj, _, _ = s.batches.snapshot(rt.objectID)
	}
	writeObject(w, obj)
}

// createBatch accepts a batch over a stored input file and starts its runner.
func (s *Server) createBatch(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		InputFileID      string            `json:"input_file_id"`
		Endpoint         string            `json:"endpoint"`
		CompletionWindow string            `json:"completion_window"`
		Metadata         map[string]string `json:"metadata"`
	}
	if json.Unmarshal(body, &req) != nil {
		writeJSON(w, http.StatusBadRequest, modelError(msgBadJSON, "invalid_request_error", "", ""))
		return
	}
	f, ok := s.files.get(req.InputFileID)
	if !ok {
		writeJSON(w, http.StatusNotFound, modelError(fmt.Sprintf("File with id '%s' not found.", req.InputFileID), "invalid_request_error", "input_file_id", ""))
		return
	}
	if batchURLs[req.Endpoint] == "" {
		writeJSON(w, http.StatusBadRequest, modelError(fmt.Sprintf("Invalid value for endpoint: '%s'.", req.Endpoint), "invalid_request_error", "endpoint", ""))
		return
	}
	lines, err := parseBatchInput(f.content)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, modelError(err.Error(), "invalid_request_error", "input_file_id", ""))
		return
	}
	now := s.opts.Now()
	if req.CompletionWindow == "" {
		req.CompletionWindow = "24h"
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &storedBatch{cancel: cancel, obj: batchObject{ID: s.rnd.id("batch_"), Object: "batch", Endpoint: req.Endpoint,
		Errors: json.RawMessage("null"), InputFileID: req.InputFileID, CompletionWindow: req.CompletionWindow,
		Status: "validating", CreatedAt: now.Unix(), ExpiresAt: now.Add(24 * time.Hour).Unix(),
		RequestCounts: requestCounts{Total: len(lines)}, Metadata: req.Metadata}}
	s.batches.put(b)
	created := b.obj // the runner updates b.obj from now on
	go s.runBatch(ctx, b, lines)
	writeObject(w, created)
}

// runBatch moves a batch through validating, in_progress and finalizing to
// completed, answering each line with the operation's own handler, and
// writes the output and error files. A cancel stops it between lines.
func (s *Server) runBatch(ctx context.Context, b *storedBatch, lines []batchLine) {
	phase := s.opts.BatchTime / 3
	stamp := func() *int64 { t := s.opts.Now().Unix(); return &t }
	cancelled := func() bool {
		if ctx.Err() == nil {
			return false
		}
		s.batches.update(b, func(o *batchObject) { o.Status, o.CancelledAt = "cancelled", stamp() })
		return true
	}
	// pause waits d; false when the batch was cancelled meanwhile.
	pause := func(d time.Duration) bool {
		_ = s.opts.Sleep(ctx, d)
		return !cancelled()
	}
	if !pause(phase) {
		return
	}
	s.batches.update(b, func(o *batchObject) { o.Status, o.InProgressAt = "in_progress", stamp() })
	var out, errs bytes.Buffer
	perLine := phase / time.Duration(len(lines))
	for _, l := range lines {
		status, answer := s.answerBatchLine(ctx, l)
		if cancelled() {
			return
		}
		dst := &out
		ok := status < 400
		if !ok {
			dst = &errs
		}
		rec, _ := json.Marshal(map[string]any{"id": s.rnd.id("batch_req_"), "custom_id": l.CustomID, "error": nil,
			"response": map[string]any{"status_code": status, "request_id": s.rnd.uuid(), "body": json.RawMessage(answer)}})
		dst.Write(rec)
		dst.WriteByte('\n')
		s.batches.update(b, func(o *batchObject) {
			if ok {
				o.RequestCounts.Completed++
			} else {
				o.RequestCounts.Failed++
			}
		})
		if !pause(perLine) {
			return
		}
	}
	s.batches.update(b, func(o *batchObject) { o.Status, o.FinalizingAt = "finalizing", stamp() })
	if !pause(phase) {
		return
	}
	store := func(content []byte, name string) *string {
		f := &storedFile{content: content, obj: fileObject{ID: s.rnd.id("file-"), Object: "file", Bytes: len(content),
			CreatedAt: s.opts.Now().Unix(), Filename: name, Purpose: "batch_output", Status: "processed"}}
		s.files.put(f)
		return &f.obj.ID
	}
	outID := store(out.Bytes(), b.obj.ID+"_output.jsonl")
	var errID *string
	if errs.Len() > 0 {
		errID = store(errs.Bytes(), b.obj.ID+"_error.jsonl")
	}
	s.batches.update(b, func(o *batchObject) {
		o.Status, o.CompletedAt, o.OutputFileID, o.ErrorFileID = "completed", stamp(), outID, errID
	})
}

// answerBatchLine runs one line through the same handler as a live call on
// the dated surface (deployment = the body's model), without streaming.
func (s *Server) answerBatchLine(ctx context.Context, l batchLine) (int, []byte) {
	var body struct {
		Model string `json:"model"`
	}
	_ = json.Unmarshal(l.Body, &body)
	suffix := batchURLs[l.URL]
	op, _ := openai.LookupOperation(suffix)
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/openai/deployments/"+body.Model+"/"+suffix+"?api-version=2024-10-21",
		bytes.NewReader(l.Body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.serveOperation(rec, req, route{surface: surfaceLegacy, op: op, deployment: body.Model, apiVersion: "2024-10-21"})
	answer := rec.Body.Bytes()
	if !json.Valid(answer) {
		answer = []byte("null")
	}
	return rec.Code, answer
}
