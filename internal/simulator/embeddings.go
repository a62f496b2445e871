package simulator

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strings"

	"github.com/moat-gw/moat/internal/openai"
)

// maxEmbeddingInputs is OpenAI's limit on inputs per embeddings request.
const maxEmbeddingInputs = 2048

// msgBadInput is OpenAI's answer to an empty or malformed input.
const msgBadInput = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."

// embeddingJob is a validated embeddings request.
type embeddingJob struct {
	dep          *deployment
	inputs       []string // text, or idsText for token arrays: what seeds the vector
	dims         int
	base64       bool
	promptTokens int
}

// embeddingParams are the embeddings fields openai.Request does not read.
type embeddingParams struct {
	Dimensions     *int   `json:"dimensions"`
	EncodingFormat string `json:"encoding_format"`
}

// planEmbeddings validates an embeddings request as the model would.
func (s *Server) planEmbeddings(dep *deployment, req *openai.Request, body []byte, promptTokens int) (*embeddingJob, []byte) {
	var p embeddingParams
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, modelError("Invalid type for 'dimensions' or 'encoding_format'.", "invalid_request_error", "", "invalid_type")
	}
	job := &embeddingJob{dep: dep, dims: dep.EmbeddingDims, promptTokens: promptTokens}
	switch p.EncodingFormat {
	case "", "float":
	case "base64":
		job.base64 = true
	default:
		return nil, modelError("Invalid value: '"+p.EncodingFormat+"'. Supported values are: 'float' and 'base64'.",
			"invalid_request_error", "encoding_format", "invalid_value")
	}
	if p.Dimensions != nil {
		if !supportsDimensions(dep.Model) {
			return nil, modelError("This model does not support specifying dimensions.", "invalid_request_error", "", "")
		}
		if *p.Dimensions < 1 {
			return nil, belowMin("dimensions", 1, *p.Dimensions)
		}
		if *p.Dimensions > dep.EmbeddingDims {
			return nil, aboveMax("dimensions", dep.EmbeddingDims, *p.Dimensions)
		}
		job.dims = *p.Dimensions
	}
	inputs, ok := embeddingInputs(req.Input)
	if !ok {
		if len(bytes.TrimSpace(req.Input)) == 0 {
			return nil, modelError("Missing required parameter: 'input'.", "invalid_request_error", "input", "missing_required_parameter")
		}
		return nil, modelError(msgBadInput, "invalid_request_error", "", "")
	}
	job.inputs = inputs
	return job, nil
}

// supportsDimensions reports whether a model accepts the dimensions field:
// the text-embedding-3 family does, ada-002 does not.
func supportsDimensions(model string) bool {
	return !strings.HasPrefix(model, "text-embedding-ada")
}

// embeddingInputs reads input as a string, strings, token IDs or arrays of
// token IDs, and returns the text that seeds each vector.
func embeddingInputs(raw json.RawMessage) ([]string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, one != ""
	}
	var many []json.RawMessage
	if json.Unmarshal(raw, &many) != nil || len(many) == 0 || len(many) > maxEmbeddingInputs {
		return nil, false
	}
	var ids []int64
	if json.Unmarshal(raw, &ids) == nil {
		return []string{idsText(ids)}, true
	}
	out := make([]string, 0, len(many))
	for _, e := range many {
		if json.Unmarshal(e, &one) == nil {
			if one == "" {
				return nil, false
			}
			out = append(out, one)
			continue
		}
		if json.Unmarshal(e, &ids) != nil || len(ids) == 0 {
			return nil, false
		}
		out = append(out, idsText(ids))
	}
	return out, true
}

// vector is the embedding of one input: normally distributed components
// drawn from a hash of the seed, model and input, truncated to dims and
// scaled to unit length. Truncation keeps a prefix of the full vector, as
// text-embedding-3's dimensions parameter does.
func (s *Server) vector(model, input string, dims int) []float32 {
	h := newHasher(s.opts.Seed, model)
	h.str(input)
	rng := h.rand()
	v := make([]float64, dims)
	var norm float64
	for i := range v {
		v[i] = rng.NormFloat64()
		norm += v[i] * v[i]
	}
	norm = math.Sqrt(norm)
	out := make([]float32, dims)
	for i, x := range v {
		out[i] = float32(x / norm)
	}
	return out
}

// serveEmbeddings answers after the time-to-first-token latency.
func (s *Server) serveEmbeddings(w http.ResponseWriter, r *http.Request, job *embeddingJob) {
	if !s.wait(r, s.opts.Latency.TimeToFirstToken) {
		s.stats.canceled.Add(1)
		return
	}
	list := embeddingList{
		Object: "list",
		Data:   make([]embeddingItem, len(job.inputs)),
		Model:  job.dep.reported,
		Usage:  embeddingUsage{PromptTokens: job.promptTokens, TotalTokens: job.promptTokens},
	}
	for i, in := range job.inputs {
		vec := s.vector(job.dep.Model, in, job.dims)
		var emb any = vec
		if job.base64 {
			b := make([]byte, 4*len(vec))
			for k, f := range vec {
				binary.LittleEndian.PutUint32(b[4*k:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(b)
		}
		list.Data[i] = embeddingItem{Object: "embedding", Index: i, Embedding: emb}
	}
	body, _ := json.Marshal(list)
	w.Header().Set("cache-control", "no-cache, must-revalidate")
	s.stats.succeeded.Add(1)
	s.stats.promptTokens.Add(int64(job.promptTokens))
	writeJSON(w, http.StatusOK, body)
}
