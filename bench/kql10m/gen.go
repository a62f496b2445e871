package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// deployment is one model deployment of the synthetic traffic.
type deployment struct {
	name, model, op, path string
	weight                float64
	embeddings            bool
	medianMs              float64
}

var deployments = func() []deployment {
	ds := []deployment{
		{name: "gpt-4o", model: "gpt-4o", weight: 30, medianMs: 900},
		{name: "gpt-4o-mini", model: "gpt-4o-mini", weight: 25, medianMs: 450},
		{name: "gpt-4.1", model: "gpt-4.1", weight: 10, medianMs: 1100},
		{name: "gpt-4.1-mini", model: "gpt-4.1-mini", weight: 8, medianMs: 500},
		{name: "gpt-4.1-nano", model: "gpt-4.1-nano", weight: 4, medianMs: 300},
		{name: "o3-mini", model: "o3-mini", weight: 4, medianMs: 4000},
		{name: "o4-mini", model: "o4-mini", weight: 3, medianMs: 3500},
		{name: "gpt-35-turbo", model: "gpt-35-turbo", weight: 2, medianMs: 400},
		{name: "text-embedding-3-large", model: "text-embedding-3-large", weight: 8, embeddings: true, medianMs: 60},
		{name: "text-embedding-3-small", model: "text-embedding-3-small", weight: 5, embeddings: true, medianMs: 40},
		{name: "text-embedding-ada-002", model: "text-embedding-ada-002", weight: 1, embeddings: true, medianMs: 50},
		{name: "gpt-4o-eu", model: "gpt-4o", weight: 0, medianMs: 950}, // weight set below
	}
	ds[len(ds)-1].weight = 5
	for i := range ds {
		if ds[i].embeddings {
			ds[i].op, ds[i].path = "Embeddings_Create", "/openai/deployments/"+ds[i].name+"/embeddings"
		} else {
			ds[i].op, ds[i].path = "ChatCompletions_Create", "/openai/deployments/"+ds[i].name+"/chat/completions"
		}
	}
	return ds
}()

var upstreams = []struct{ name, region string }{
	{"aoai-eastus", "eastus"}, {"aoai-eastus2", "eastus2"}, {"aoai-westus3", "westus3"},
	{"aoai-swedencentral", "swedencentral"}, {"aoai-francecentral", "francecentral"}, {"aoai-japaneast", "japaneast"},
}

// callers: 24 API keys and 12 Entra principals, with a skewed share of
// traffic (a few busy applications, a long tail), as real tenants have.
var callers = func() []string {
	var out []string
	for i := 1; i <= 24; i++ {
		out = append(out, fmt.Sprintf("key-app%02d", i))
	}
	for i := 1; i <= 12; i++ {
		out = append(out, fmt.Sprintf("entra:0b8f%04x-51c2-4e7a-9a31-5d2c8e1f%04x", i*7919%65536, i*104729%65536))
	}
	return out
}()

// picker draws indexes with fixed weights.
type picker struct{ cum []float64 }

func newPicker(weights []float64) picker {
	p := picker{cum: make([]float64, len(weights))}
	sum := 0.0
	for i, w := range weights {
		sum += w
		p.cum[i] = sum
	}
	for i := range p.cum {
		p.cum[i] /= sum
	}
	return p
}

func (p picker) pick(r *rand.Rand) int {
	x := r.Float64()
	for i, c := range p.cum {
		if x < c {
			return i
		}
	}
	return len(p.cum) - 1
}

// generator makes realistic request-log records: a few dozen callers and
// deployments, roughly 3% 429s and 2% other errors, 40% of chat calls
// streamed, log-normal latencies and token counts, evenly spread over
// [start, end) in time order, as the log writer appends them.
type generator struct {
	r          *rand.Rand
	start, end time.Time
	total      int
	next       int
	depPick    picker
	callerPick picker
}

func newGenerator(seed uint64, start, end time.Time, total int) *generator {
	dw := make([]float64, len(deployments))
	for i, d := range deployments {
		dw[i] = d.weight
	}
	cw := make([]float64, len(callers))
	for i := range callers {
		cw[i] = 1 / math.Pow(float64(i+1), 0.9) // Zipf-like
	}
	return &generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), start: start, end: end, total: total,
		depPick: newPicker(dw), callerPick: newPicker(cw)}
}

// fill writes the next len(recs) records (fewer at the end) and returns
// how many it wrote.
func (g *generator) fill(recs []reqlog.Record) int {
	n := min(len(recs), g.total-g.next)
	span := g.end.Sub(g.start)
	for i := range n {
		at := g.start.Add(time.Duration(float64(span) * float64(g.next) / float64(g.total)))
		recs[i] = g.record(at)
		g.next++
	}
	return n
}

func (g *generator) lognormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*g.r.NormFloat64())
}

func (g *generator) record(at time.Time) reqlog.Record {
	r := g.r
	d := deployments[g.depPick.pick(r)]
	up := upstreams[r.IntN(len(upstreams))]
	caller := callers[g.callerPick.pick(r)]
	auth := "key"
	if len(caller) > 6 && caller[:6] == "entra:" {
		auth = "entra"
	}
	rec := reqlog.Record{
		Time: at, RequestID: fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64()),
		Caller: caller, AuthType: auth, ClientIP: fmt.Sprintf("10.%d.%d.%d", r.IntN(4), r.IntN(256), 1+r.IntN(254)),
		Listener: "private", Deployment: d.name, Model: d.model, Upstream: up.name, Operation: d.op,
		APIVersion: "2024-10-21", Method: "POST", Path: d.path, Region: up.region, Attempts: 1,
		RequestBytes: int64(200 + r.IntN(6000)),
	}
	switch x := r.Float64(); {
	case x < 0.025:
		rec.Status, rec.UpstreamStatus, rec.ErrorKind = 429, 429, "upstream_rate_limit"
		rec.ErrorMessage = "upstream answered 429"
	case x < 0.03:
		rec.Status, rec.ErrorKind = 429, "policy_rate_limit"
		rec.ErrorMessage = "caller token limit reached"
	case x < 0.038:
		rec.Status, rec.UpstreamStatus, rec.ErrorKind = 500, 500, "upstream_error"
		rec.ErrorMessage = "upstream answered 500"
	case x < 0.042:
		rec.Status, rec.ErrorKind, rec.ErrorMessage = 504, "upstream_timeout", "no response headers within 60s"
	case x < 0.045:
		rec.Status, rec.ErrorKind, rec.ErrorMessage = 400, "client_bad_request", "invalid JSON body"
	case x < 0.048:
		rec.Status, rec.ErrorKind, rec.ErrorMessage = 401, "client_auth", "unknown api key"
	case x < 0.05:
		rec.Status, rec.ErrorKind, rec.ErrorMessage = 404, "client_not_found", "no such deployment"
	default:
		rec.Status, rec.UpstreamStatus = 200, 200
	}
	switch {
	case rec.Status == 200:
		rec.PromptTokens = int(g.lognormal(700, 0.9))
		if !d.embeddings {
			rec.CompletionTokens = int(g.lognormal(180, 0.8))
			rec.Streamed = r.Float64() < 0.4
		}
		rec.TotalTokens = rec.PromptTokens + rec.CompletionTokens
		rec.TokensEstimated = rec.Streamed && r.Float64() < 0.05
		rec.UpstreamMs = g.lognormal(d.medianMs, 0.6)
		rec.TotalMs = rec.UpstreamMs + g.lognormal(2, 0.5)
		rec.FirstByteMs = rec.UpstreamMs
		if rec.Streamed {
			rec.FirstByteMs = rec.UpstreamMs * 0.25
			rec.TotalMs += float64(rec.CompletionTokens) * 12
		}
		rec.ResponseBytes = int64(400 + rec.CompletionTokens*5)
		if r.Float64() < 0.02 {
			rec.Attempts = 2 // failed over once
		}
	case rec.UpstreamStatus != 0 || rec.ErrorKind == "upstream_timeout":
		rec.UpstreamMs = g.lognormal(d.medianMs/4, 0.8)
		rec.TotalMs = rec.UpstreamMs + g.lognormal(2, 0.5)
		rec.ResponseBytes = 300
	default:
		rec.TotalMs = g.lognormal(0.8, 0.4)
		rec.ResponseBytes = 200
	}
	return rec
}
