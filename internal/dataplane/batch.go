package dataplane

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/moat-gw/moat/internal/affinity"
	"github.com/moat-gw/moat/internal/openai"
)

// batchInputFile reads input_file_id from a batch create's body.
func batchInputFile(body []byte) (string, error) {
	var req struct {
		InputFileID string `json:"input_file_id"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return "", errors.New("request body must be a JSON object")
	}
	if !validObjectID(req.InputFileID) {
		return "", errors.New("input_file_id is required")
	}
	return req.InputFileID, nil
}

// uploadDeployment finds the deployment a file upload is for: a batch
// file's lines name it in body.model (Azure requires one deployment per
// batch file), so the first line decides. Files of other purposes, and
// batch files without a model, cannot be placed and are refused.
func uploadDeployment(contentType string, body []byte) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return "", errors.New("request must be multipart/form-data")
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	purpose, model := "", ""
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", errors.New("malformed multipart body")
		}
		switch part.FormName() {
		case "purpose":
			b, _ := io.ReadAll(io.LimitReader(part, 64))
			purpose = strings.TrimSpace(string(b))
		case "file":
			model = firstLineModel(part)
		}
	}
	switch {
	case purpose != "batch":
		return "", errors.New("moat routes file uploads with purpose 'batch' only: their lines name the deployment that will run them")
	case model == "":
		return "", errors.New("the first line of a batch file must carry body.model, the deployment to run it")
	}
	return model, nil
}

// firstLineModel reads body.model from the first non-empty JSONL line.
func firstLineModel(r io.Reader) string {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l struct {
			Body struct {
				Model string `json:"model"`
			} `json:"body"`
		}
		_ = json.Unmarshal(line, &l)
		return l.Body.Model
	}
	return ""
}

// pinBatchFiles pins a batch's output and error files, named in its
// answer once it completes, to the member that ran it: their content is
// read from there, and charged (batchUsage).
func (p *Pipeline) pinBatchFiles(resp *http.Response, s *scope) {
	br := p.peekBody(resp, s)
	head, _ := br.Peek(maxPinPeek)
	var b struct {
		OutputFileID *string `json:"output_file_id"`
		ErrorFileID  *string `json:"error_file_id"`
	}
	if json.Unmarshal(head, &b) != nil {
		return
	}
	for _, id := range []*string{b.OutputFileID, b.ErrorFileID} {
		if id == nil || !validObjectID(*id) {
			continue
		}
		if pin, err := p.pins.Get(resp.Request.Context(), *id); err == nil && pin.Member == s.pinned {
			continue // pinned by an earlier poll
		}
		if err := p.pins.Put(resp.Request.Context(), affinity.KindBatchOutput, *id, s.deployment.name, s.pinned); err != nil {
			p.log.Warn("pin batch output", "request_id", s.id, "err", err)
		}
	}
}

// batchUsage sums the usage of a batch output file's lines as it passes
// to the client: batch tokens are charged when the results are read.
type batchUsage struct {
	io.ReadCloser
	s    *scope
	line []byte
	sum  openai.Usage
}

func (b *batchUsage) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	for rest := p[:n]; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			b.line = append(b.line, rest...)
			break
		}
		b.line = append(b.line, rest[:i]...)
		b.add()
		rest = rest[i+1:]
	}
	if errors.Is(err, io.EOF) {
		b.add()
		b.s.usage, b.s.usageSeen = b.sum, true
	}
	return n, err
}

// add counts the usage of the line collected so far.
func (b *batchUsage) add() {
	defer func() { b.line = b.line[:0] }()
	if len(bytes.TrimSpace(b.line)) == 0 || len(b.line) > 16<<20 {
		return
	}
	var l struct {
		Response struct {
			Body json.RawMessage `json:"body"`
		} `json:"response"`
	}
	if json.Unmarshal(b.line, &l) != nil {
		return
	}
	if u, ok := openai.UsageFromBody(l.Response.Body); ok {
		b.sum.PromptTokens += u.PromptTokens
		b.sum.CompletionTokens += u.CompletionTokens
		b.sum.TotalTokens += u.TotalTokens
	}
}
