package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// maxStoredFiles bounds the files (uploads and batch outputs) kept; the
// oldest go first.
const maxStoredFiles = 1_000

// fileObject is the Files API's file, as Azure answers it.
type fileObject struct {
	ID            string  `json:"id"`
	Object        string  `json:"object"`
	Bytes         int     `json:"bytes"`
	CreatedAt     int64   `json:"created_at"`
	Filename      string  `json:"filename"`
	Purpose       string  `json:"purpose"`
	Status        string  `json:"status"`
	StatusDetails *string `json:"status_details"`
}

type storedFile struct {
	obj     fileObject
	content []byte
}

// fileStore keeps uploaded files and batch outputs in memory.
type fileStore struct{ idStore[storedFile] }

func (st *fileStore) put(f *storedFile) { st.idStore.put(f.obj.ID, f, maxStoredFiles) }

func (st *fileStore) list() []fileObject {
	return newestFirst(&st.idStore, func(f *storedFile) fileObject { return f.obj })
}

// serveFiles answers the Files API: upload, list, retrieve, delete, content.
func (s *Server) serveFiles(w http.ResponseWriter, r *http.Request, rt route) {
	switch {
	case rt.objectID == "" && r.Method == http.MethodPost:
		s.uploadFile(w, r)
		return
	case rt.objectID == "":
		files := s.files.list()
		if p := r.URL.Query().Get("purpose"); p != "" {
			files = slices.DeleteFunc(files, func(f fileObject) bool { return f.Purpose != p })
		}
		writeList(w, r, files, func(f fileObject) string { return f.ID }, 10000, 10000)
		return
	}
	f, ok := s.files.get(rt.objectID)
	if !ok {
		writeJSON(w, http.StatusNotFound, modelError(fmt.Sprintf("File with id '%s' not found.", rt.objectID), "invalid_request_error", "", ""))
		return
	}
	switch {
	case r.Method == http.MethodGet && rt.objectAction == "":
		writeObject(w, f.obj)
	case r.Method == http.MethodGet && rt.objectAction == "content":
		writeBody(w, http.StatusOK, "application/octet-stream", f.content)
	case r.Method == http.MethodDelete:
		s.files.remove(f.obj.ID)
		body, _ := json.Marshal(struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Deleted bool   `json:"deleted"`
		}{f.obj.ID, "file", true})
		writeJSON(w, http.StatusOK, body)
	}
}

// uploadFile stores a multipart upload. Only purpose "batch" is served, and
// its JSONL is validated line by line as Azure does before accepting it.
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	form, bad := parseMultipart(r.Header.Get("Content-Type"), body)
	if bad != nil {
		writeJSON(w, http.StatusBadRequest, bad)
		return
	}
	purpose := form.values["purpose"]
	if purpose != "batch" {
		writeJSON(w, http.StatusBadRequest, modelError(fmt.Sprintf("Invalid value for purpose: '%s'. The simulator stores files with purpose 'batch'.", purpose),
			"invalid_request_error", "purpose", "invalidPayload"))
		return
	}
	if form.file == nil {
		writeJSON(w, http.StatusBadRequest, modelError("Missing file.", "invalid_request_error", "file", "invalidPayload"))
		return
	}
	if _, err := parseBatchInput(form.file); err != nil {
		writeJSON(w, http.StatusBadRequest, modelError(err.Error(), "invalid_request_error", "file", "invalidPayload"))
		return
	}
	f := &storedFile{obj: fileObject{ID: s.rnd.id("file-"), Object: "file", Bytes: len(form.file),
		CreatedAt: s.opts.Now().Unix(), Filename: form.fileName, Purpose: purpose, Status: "processed"}, content: form.file}
	s.files.put(f)
	writeObject(w, f.obj)
}

// batchLine is one request of a batch input file.
type batchLine struct {
	CustomID string          `json:"custom_id"`
	Method   string          `json:"method"`
	URL      string          `json:"url"`
	Body     json.RawMessage `json:"body"`
}

// batchURLs are the endpoints a batch line may call, with the operation
// suffix the simulator serves them at.
var batchURLs = map[string]string{
	"/chat/completions": "chat/completions", "/v1/chat/completions": "chat/completions",
	"/completions": "completions", "/v1/completions": "completions",
	"/embeddings": "embeddings", "/v1/embeddings": "embeddings",
}

// parseBatchInput validates a batch JSONL file: every line a request with a
// unique custom_id, method POST, a served url and a body naming its model.
func parseBatchInput(content []byte) ([]batchLine, error) {
	var lines []batchLine
	seen := map[string]bool{}
	for i, raw := range bytes.Split(content, []byte("\n")) {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		n := i + 1
		var l batchLine
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, fmt.Errorf("Line %d of the file is not valid JSON.", n)
		}
		var body struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		switch {
		case l.CustomID == "":
			return nil, fmt.Errorf("Line %d: custom_id is required.", n)
		case seen[l.CustomID]:
			return nil, fmt.Errorf("Line %d: custom_id '%s' is not unique.", n, l.CustomID)
		case !strings.EqualFold(l.Method, http.MethodPost):
			return nil, fmt.Errorf("Line %d: method must be POST.", n)
		case batchURLs[l.URL] == "":
			return nil, fmt.Errorf("Line %d: url '%s' is not supported in batches.", n, l.URL)
		case json.Unmarshal(l.Body, &body) != nil || body.Model == "":
			return nil, fmt.Errorf("Line %d: body must be a JSON object with a model.", n)
		case body.Stream:
			return nil, fmt.Errorf("Line %d: streaming is not supported in batches.", n)
		}
		seen[l.CustomID] = true
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("The file is empty.")
	}
	return lines, nil
}

func writeObject(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	writeJSON(w, http.StatusOK, b)
}

// writeList answers a list newest first, with OpenAI's paging: the entries
// after the one whose ID is after, at most limit of them (def when unset).
// An after that names no entry answers an empty page.
func writeList[T any](w http.ResponseWriter, r *http.Request, data []T, idOf func(T) string, def, most int) {
	limit := def
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > most {
			writeJSON(w, http.StatusBadRequest, modelError(fmt.Sprintf("Invalid 'limit': integer must be between 1 and %d.", most),
				"invalid_request_error", "limit", ""))
			return
		}
		limit = n
	}
	if after := r.URL.Query().Get("after"); after != "" {
		i := slices.IndexFunc(data, func(v T) bool { return idOf(v) == after })
		if i < 0 {
			i = len(data) - 1
		}
		data = data[i+1:]
	}
	more := len(data) > limit
	if more {
		data = data[:limit]
	}
	b, _ := json.Marshal(struct {
		Object  string `json:"object"`
		Data    []T    `json:"data"`
		HasMore bool   `json:"has_more"`
	}{"list", data, more})
	writeJSON(w, http.StatusOK, b)
}
