package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
)

// serveList answers the listing endpoints from config, in the shape of the
// surface that was called (§1.6): Azure's authoring list for /openai/models
// and /openai/deployments, OpenAI's list for /openai/v1/models and /v1/models.
func (p *pipeline) serveList(w http.ResponseWriter, s *scope) error {
	created := p.now().Unix()
	var v any
	switch s.call.List {
	case listModelsOpenAI:
		type model struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		}
		data := []model{}
		for _, name := range p.depNames {
			data = append(data, model{ID: name, Object: "model", Created: created, OwnedBy: "organization-owner"})
		}
		v = map[string]any{"object": "list", "data": data}
	case listModelsAzure:
		type caps struct {
			FineTune       bool `json:"fine_tune"`
			Inference      bool `json:"inference"`
			Completion     bool `json:"completion"`
			ChatCompletion bool `json:"chat_completion"`
			Embeddings     bool `json:"embeddings"`
		}
		type model struct {
			Capabilities    caps   `json:"capabilities"`
			LifecycleStatus string `json:"lifecycle_status"`
			ID              string `json:"id"`
			Status          string `json:"status"`
			CreatedAt       int64  `json:"created_at"`
			Object          string `json:"object"`
		}
		seen := map[string]bool{}
		data := []model{}
		for _, name := range p.depNames {
			m := p.deployments[name].model
			if seen[m] {
				continue
			}
			seen[m] = true
			emb := isEmbeddingModel(m)
			data = append(data, model{Capabilities: caps{Inference: true, ChatCompletion: !emb, Completion: !emb, Embeddings: emb},
				LifecycleStatus: "generally-available", ID: m, Status: "succeeded", CreatedAt: created, Object: "model"})
		}
		v = map[string]any{"data": data, "object": "list"}
	case listDeployments, getDeployment:
		type dep struct {
			ScaleSettings map[string]string `json:"scale_settings"`
			Model         string            `json:"model"`
			Owner         string            `json:"owner"`
			ID            string            `json:"id"`
			Status        string            `json:"status"`
			CreatedAt     int64             `json:"created_at"`
			UpdatedAt     int64             `json:"updated_at"`
			Object        string            `json:"object"`
		}
		mk := func(name string) dep {
			return dep{ScaleSettings: map[string]string{"scale_type": "standard"}, Model: p.deployments[name].model,
				Owner: "organization-owner", ID: name, Status: "succeeded", CreatedAt: created, UpdatedAt: created, Object: "deployment"}
		}
		if s.call.List == getDeployment {
			if p.deployments[s.call.Deployment] == nil {
				return httpx.New(http.StatusNotFound, httpx.KindClientNotFound,
					openai.FrontDoorErrorCompact("DeploymentNotFound", openai.MsgDeploymentNotFound), errString("unknown deployment"))
			}
			v = mk(s.call.Deployment)
			break
		}
		data := []dep{}
		for _, name := range p.depNames {
			data = append(data, mk(name))
		}
		v = map[string]any{"data": data, "object": "list"}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	s.status = http.StatusOK
	s.respBytes = int64(len(b))
	_, err = w.Write(b)
	return err
}

func isEmbeddingModel(m string) bool {
	return len(m) >= 14 && m[:14] == "text-embedding"
}
