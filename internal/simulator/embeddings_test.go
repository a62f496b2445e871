package simulator

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/openai"
)

type embeddingResponse struct {
	Object string `json:"object"`
	Data   []struct {
		Object    string          `json:"object"`
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Model string       `json:"model"`
	Usage openai.Usage `json:"usage"`
}

// embed posts body and returns the decoded vectors.
func embed(t *testing.T, s *Server, body string) (embeddingResponse, [][]float32) {
	t.Helper()
	rec := call(s, "POST", embedPath, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d: %s", rec.Code, rec.Body)
	}
	var r embeddingResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	vecs := make([][]float32, len(r.Data))
	for i, d := range r.Data {
		if d.Index != i || d.Object != "embedding" {
			t.Errorf("item %d: index %d object %q", i, d.Index, d.Object)
		}
		var s string
		if json.Unmarshal(d.Embedding, &s) == nil {
			raw, err := base64.StdEncoding.DecodeString(s)
			if err != nil || len(raw)%4 != 0 {
				t.Fatalf("base64: %v", err)
			}
			for k := 0; k < len(raw); k += 4 {
				vecs[i] = append(vecs[i], math.Float32frombits(binary.LittleEndian.Uint32(raw[k:])))
			}
			continue
		}
		if err := json.Unmarshal(d.Embedding, &vecs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return r, vecs
}

func norm(v []float32) float64 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	return math.Sqrt(n)
}

func TestEmbeddings(t *testing.T) {
	tc := sharedCounter()
	tests := []struct {
		name     string
		body     string
		wantN    int
		wantDims int
	}{
		{name: "string", body: `{"input":"hello world"}`, wantN: 1, wantDims: 1536},
		{name: "strings", body: `{"input":["hello world","2 + 2 = 4","x"]}`, wantN: 3, wantDims: 1536},
		{name: "token ids", body: `{"input":[15339,1917]}`, wantN: 1, wantDims: 1536},
		{name: "token id arrays", body: `{"input":[[15339,1917],[17]]}`, wantN: 2, wantDims: 1536},
		{name: "dimensions", body: `{"input":"hello world","dimensions":256}`, wantN: 1, wantDims: 256},
		{name: "base64", body: `{"input":["hello world","x"],"encoding_format":"base64"}`, wantN: 2, wantDims: 1536},
		{name: "explicit float", body: `{"input":"hello world","encoding_format":"float","dimensions":3}`, wantN: 1, wantDims: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, testOptions(newClock()))
			r, vecs := embed(t, s, tt.body)
			if r.Object != "list" || r.Model != "text-embedding-3-small" || len(vecs) != tt.wantN {
				t.Fatalf("object %q model %q, %d vectors", r.Object, r.Model, len(vecs))
			}
			for i, v := range vecs {
				if len(v) != tt.wantDims {
					t.Errorf("vector %d has %d dims, want %d", i, len(v), tt.wantDims)
				}
				if n := norm(v); math.Abs(n-1) > 1e-5 {
					t.Errorf("vector %d has norm %v", i, n)
				}
			}
			req, _ := openai.ParseRequest([]byte(tt.body))
			want := tc.Prompt("text-embedding-3-small", req)
			if diff := cmp.Diff(openai.Usage{PromptTokens: want, TotalTokens: want}, r.Usage); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEmbeddingsDeterministic(t *testing.T) {
	_, a := embed(t, newServer(t, testOptions(newClock())), `{"input":["alpha","beta"]}`)
	_, b := embed(t, newServer(t, testOptions(newClock())), `{"input":["beta","alpha"],"encoding_format":"base64"}`)
	if diff := cmp.Diff(a[0], b[1]); diff != "" {
		t.Errorf("same input, other vector (-first +second):\n%s", diff)
	}
	if cmp.Equal(a[0], a[1]) {
		t.Error("different inputs, same vector")
	}
	// dimensions keeps a prefix of the full vector, renormalized.
	_, short := embed(t, newServer(t, testOptions(newClock())), `{"input":"alpha","dimensions":8}`)
	n := norm(a[0][:8])
	for i, x := range short[0] {
		if math.Abs(float64(x)-float64(a[0][i])/n) > 1e-6 {
			t.Fatalf("component %d: %v, want %v", i, x, float64(a[0][i])/n)
		}
	}
	opts := testOptions(newClock())
	opts.Seed = 7
	_, other := embed(t, newServer(t, opts), `{"input":"alpha"}`)
	if cmp.Equal(a[0], other[0]) {
		t.Error("another seed gave the same vector")
	}
}

func TestEmbeddingsInvalid(t *testing.T) {
	opts := testOptions(newClock())
	opts.Deployments = append(opts.Deployments, Deployment{Name: "ada", Model: "text-embedding-ada-002", Kind: KindEmbeddings})
	tests := []struct {
		name     string
		path     string
		body     string
		wantBody string
	}{
		{name: "missing input", path: embedPath, body: `{}`,
			wantBody: `{"error":{"message":"Missing required parameter: 'input'.","type":"invalid_request_error","param":"input","code":"missing_required_parameter"}}`},
		{name: "empty string", path: embedPath, body: `{"input":""}`,
			wantBody: `{"error":{"message":"` + msgBadInput + `","type":"invalid_request_error","param":null,"code":null}}`},
		{name: "empty array", path: embedPath, body: `{"input":[]}`,
			wantBody: `{"error":{"message":"` + msgBadInput + `","type":"invalid_request_error","param":null,"code":null}}`},
		{name: "object", path: embedPath, body: `{"input":{"a":1}}`,
			wantBody: `{"error":{"message":"` + msgBadInput + `","type":"invalid_request_error","param":null,"code":null}}`},
		{name: "too many dimensions", path: embedPath, body: `{"input":"x","dimensions":1537}`,
			wantBody: `{"error":{"message":"Invalid 'dimensions': integer above maximum value. Expected a value <= 1536, but got 1537 instead.","type":"invalid_request_error","param":"dimensions","code":"integer_above_max_value"}}`},
		{name: "zero dimensions", path: embedPath, body: `{"input":"x","dimensions":0}`,
			wantBody: `{"error":{"message":"Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got 0 instead.","type":"invalid_request_error","param":"dimensions","code":"integer_below_min_value"}}`},
		{name: "ada with dimensions", path: "/openai/deployments/ada/embeddings?api-version=2024-10-21", body: `{"input":"x","dimensions":8}`,
			wantBody: `{"error":{"message":"This model does not support specifying dimensions.","type":"invalid_request_error","param":null,"code":null}}`},
		{name: "bad encoding_format", path: embedPath, body: `{"input":"x","encoding_format":"int8"}`,
			wantBody: `{"error":{"message":"Invalid value: 'int8'. Supported values are: 'float' and 'base64'.","type":"invalid_request_error","param":"encoding_format","code":"invalid_value"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := call(newServer(t, opts), "POST", tt.path, tt.body)
			if rec.Code != http.StatusBadRequest {
				t.Errorf("status = %d", rec.Code)
			}
			if rec.Body.String() != tt.wantBody {
				t.Errorf("body:\n got %s\nwant %s", rec.Body, tt.wantBody)
			}
		})
	}
}
